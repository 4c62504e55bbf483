package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

// testMeta is stamped on the rows of every test record.
var testMeta = Meta{RunID: "run-0001", ExtractedAt: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)}

func newMem(t testing.TB) *memory.CheckedAllocator {
	t.Helper()
	return memory.NewCheckedAllocator(memory.NewGoAllocator())
}

// entityKind decodes a JSON array of one GitLab entity type and appends every
// element (even after a decode error, whatever was decoded) to a Builder of
// its table.
type entityKind struct {
	name    string // fixture "table" value
	table   schemas.Table
	flatten func(b *Builder, refs *Referenced, p extract.Parent, data []byte) (rows int, err error)
}

func flattenAs[T any](appendRow func(*Builder, *Referenced, extract.Parent, *T)) func(*Builder, *Referenced, extract.Parent, []byte) (int, error) {
	return func(b *Builder, refs *Referenced, p extract.Parent, data []byte) (int, error) {
		var items []T
		err := json.Unmarshal(data, &items)
		for i := range items {
			appendRow(b, refs, p, &items[i])
		}
		return len(items), err
	}
}

// entityKinds lists every entity type the package flattens.
var entityKinds = []entityKind{
	{"events", schemas.Events, flattenAs(func(b *Builder, r *Referenced, _ extract.Parent, e *extract.Event) { AppendEvent(b, r, e) })},
	{"label_events", schemas.LabelEvents, flattenAs(AppendLabelEvent)},
	{"state_events", schemas.StateEvents, flattenAs(AppendStateEvent)},
	{"milestone_events", schemas.MilestoneEvents, flattenAs(AppendMilestoneEvent)},
	{"iteration_events", schemas.IterationEvents, flattenAs(AppendIterationEvent)},
	{"weight_events", schemas.WeightEvents, flattenAs(AppendWeightEvent)},
	{"audit_events", schemas.AuditEvents, flattenAs(func(b *Builder, _ *Referenced, _ extract.Parent, e *extract.AuditEvent) { AppendAuditEvent(b, e) })},
	{"activity", schemas.Activity, flattenActivity},
	{"users", schemas.Users, flattenAs(func(b *Builder, _ *Referenced, _ extract.Parent, u *extract.User) { AppendUser(b, u) })},
	{"labels", schemas.Labels, flattenAs(func(b *Builder, _ *Referenced, _ extract.Parent, l *extract.Label) { AppendLabel(b, l) })},
	{"milestones", schemas.Milestones, flattenAs(func(b *Builder, _ *Referenced, _ extract.Parent, m *extract.Milestone) { AppendMilestone(b, m) })},
	{"iterations", schemas.Iterations, flattenAs(func(b *Builder, _ *Referenced, _ extract.Parent, it *extract.Iteration) { AppendIteration(b, it) })},
	{"projects", schemas.Projects, flattenAs(func(b *Builder, _ *Referenced, _ extract.Parent, p *extract.Project) { AppendProject(b, p) })},
	{"issues", schemas.Issues, flattenAs(func(b *Builder, r *Referenced, _ extract.Parent, i *extract.Issue) { AppendIssue(b, r, i) })},
	{"merge_requests", schemas.MergeRequests, flattenAs(func(b *Builder, r *Referenced, _ extract.Parent, m *extract.MergeRequest) {
		AppendMergeRequest(b, r, m)
	})},
	{"epics", schemas.Epics, flattenAs(func(b *Builder, r *Referenced, _ extract.Parent, e *extract.Epic) { AppendEpic(b, r, e) })},
}

// fixtureUsers resolve the usernames of the activity fixture as the
// pipeline would; any other name is unknown (a null id).
var fixtureUsers = map[string]int64{"alice": 2, "bob": 3, "carol": 4}

// flattenActivity flattens a notes listing: only system notes become rows
// (it returns their count), their usernames resolved from fixtureUsers.
func flattenActivity(b *Builder, refs *Referenced, p extract.Parent, data []byte) (int, error) {
	var items []extract.ParentNote
	if err := json.Unmarshal(data, &items); err != nil {
		return 0, err
	}
	n := 0
	for i := range items {
		if !items[i].IsSystem() {
			AppendActivity(b, refs, p, ActivityRow{Note: &items[i]}) // must append nothing
			continue
		}
		var body string // a null body is an unknown wording, as in the pipeline
		if items[i].Body != nil {
			body = *items[i].Body
		}
		a := ActivityRow{Note: &items[i], Parsed: ParseSystemNote(body)}
		for _, u := range a.Parsed.Usernames {
			var id *int64
			if v, ok := fixtureUsers[u]; ok {
				id = &v
			}
			a.IDs = append(a.IDs, id)
		}
		AppendActivity(b, refs, p, a)
		n++
	}
	return n, nil
}

func kindByName(t testing.TB, name string) entityKind {
	t.Helper()
	for _, k := range entityKinds {
		if k.name == name {
			return k
		}
	}
	t.Fatalf("no entity kind %q", name)
	return entityKind{}
}

// checkRecord asserts what every record this package makes must satisfy.
func checkRecord(t testing.TB, table schemas.Table, rec arrow.RecordBatch, rows int) {
	t.Helper()
	if !rec.Schema().Equal(table.Schema) {
		t.Fatalf("%s: schema\n%s\nwant\n%s", table.Name, rec.Schema(), table.Schema)
	}
	if got := rec.NumRows(); got != int64(rows) {
		t.Fatalf("%s: %d rows, want %d", table.Name, got, rows)
	}
	if err := array.ValidateRecordFull(rec); err != nil {
		t.Fatalf("%s: invalid record: %v", table.Name, err)
	}
	for i, f := range rec.Schema().Fields() {
		col := rec.Column(i)
		if col.Len() != rows {
			t.Fatalf("%s.%s: %d values, want %d", table.Name, f.Name, col.Len(), rows)
		}
		if !f.Nullable && col.NullN() != 0 {
			t.Fatalf("%s.%s: not nullable but has %d nulls", table.Name, f.Name, col.NullN())
		}
	}
}

// renderRecord writes rec deterministically: a header, then for each row one
// "column: value" line per column in schema order. Values are JSON (strings
// quoted, null as null); timestamps are RFC 3339 UTC with microseconds and
// dates YYYY-MM-DD, both quoted.
func renderRecord(t testing.TB, w *bytes.Buffer, name string, rec arrow.RecordBatch) {
	t.Helper()
	fmt.Fprintf(w, "# %s: %d rows\n", name, rec.NumRows())
	fields := rec.Schema().Fields()
	for row := 0; row < int(rec.NumRows()); row++ {
		fmt.Fprintf(w, "[%d]\n", row)
		for c, f := range fields {
			fmt.Fprintf(w, "  %s: %s\n", f.Name, renderValue(t, rec.Column(c), row))
		}
	}
}

func renderValue(t testing.TB, col arrow.Array, row int) string {
	if col.IsNull(row) {
		return "null"
	}
	switch a := col.(type) {
	case *array.Int64:
		return strconv.FormatInt(a.Value(row), 10)
	case *array.String:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a.Value(row)); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(buf.String(), "\n")
	case *array.Boolean:
		return strconv.FormatBool(a.Value(row))
	case *array.Timestamp:
		return strconv.Quote(time.UnixMicro(int64(a.Value(row))).UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
	case *array.Date32:
		return strconv.Quote(a.Value(row).FormattedString())
	case *array.List:
		start, end := a.ValueOffsets(row)
		items := make([]string, 0, end-start)
		for i := start; i < end; i++ {
			items = append(items, renderValue(t, a.ListValues(), int(i)))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	t.Fatalf("cannot render %s", col.DataType())
	return ""
}

// column returns the column called name.
func columnByName(t testing.TB, rec arrow.RecordBatch, name string) arrow.Array {
	t.Helper()
	idx := rec.Schema().FieldIndices(name)
	if len(idx) != 1 {
		t.Fatalf("no column %q", name)
	}
	return rec.Column(idx[0])
}

// value returns a cell as a Go value (nil for null): int64, string, bool,
// time.Time (UTC), a "YYYY-MM-DD" string for dates, []any for lists.
func value(t testing.TB, rec arrow.RecordBatch, name string, row int) any {
	t.Helper()
	return valueOf(t, columnByName(t, rec, name), row)
}

func valueOf(t testing.TB, col arrow.Array, row int) any {
	t.Helper()
	if col.IsNull(row) {
		return nil
	}
	switch a := col.(type) {
	case *array.Int64:
		return a.Value(row)
	case *array.String:
		return a.Value(row)
	case *array.Boolean:
		return a.Value(row)
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(row))).UTC()
	case *array.Date32:
		return a.Value(row).FormattedString()
	case *array.List:
		start, end := a.ValueOffsets(row)
		items := make([]any, 0, end-start)
		for i := start; i < end; i++ {
			items = append(items, valueOf(t, a.ListValues(), int(i)))
		}
		return items
	}
	t.Fatalf("cannot read %s", col.DataType())
	return nil
}

func ptr[T any](v T) *T { return &v }
