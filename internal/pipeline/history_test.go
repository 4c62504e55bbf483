package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
)

// cell renders a value the way warehousetest.RowsOf does: null is ∅,
// instants are UTC with microseconds.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "∅"
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000000Z")
	case sql.NullInt64:
		if !x.Valid {
			return "∅"
		}
		return fmt.Sprint(x.Int64)
	default:
		return fmt.Sprint(x)
	}
}

// sameList fails with the first differences of two sorted row lists.
func sameList(t testing.TB, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var diffs []string
	for i := 0; i < max(len(got), len(want)) && len(diffs) < 5; i++ {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			diffs = append(diffs, fmt.Sprintf("row %d:\n  got  %s\n  want %s", i, g, w))
		}
	}
	t.Errorf("%s: %d rows, want %d; first differences:\n%s", what, len(got), len(want), strings.Join(diffs, "\n"))
}

// TestLabelIntervalsMatchIndependentComputation recomputes label_intervals
// in Go from every raw label_events row of a real run, by the README's
// rule, and compares row for row.
func TestLabelIntervalsMatchIndependentComputation(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 21, Scale: smallScale()}, acmePipeline)
	h.mustRun()
	// A second run, so that spans opened by rows of the first run are
	// closed by rows of the second.
	h.fake.AddActivity(22)
	h.mustRun()

	type ev struct {
		id          int64
		typ         string
		resource    int64
		label, user sql.NullInt64
		action      string
		created     time.Time
	}
	type key struct {
		typ             string
		resource, label int64
	}
	byKey := map[key][]ev{}
	var nullLabels int
	var got []string
	h.withDB(func(db *sql.DB) {
		rows, err := db.Query(`SELECT id, resource_type, resource_id, label_id, user_id, action, created_at FROM label_events`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var e ev
			if err := rows.Scan(&e.id, &e.typ, &e.resource, &e.label, &e.user, &e.action, &e.created); err != nil {
				t.Fatal(err)
			}
			if !e.label.Valid {
				nullLabels++
				continue
			}
			k := key{e.typ, e.resource, e.label.Int64}
			byKey[k] = append(byKey[k], e)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		got = wt.RowsOf(t, db, `SELECT resource_type, resource_id, label_id, added_at, removed_at, added_by, removed_by,
			round(epoch(duration) * 1000000)::BIGINT FROM label_intervals`)
	})

	var want []string
	var dupAdds, orphanRemoves, closed, open int
	for k, evs := range byKey {
		sort.Slice(evs, func(i, j int) bool {
			if !evs[i].created.Equal(evs[j].created) {
				return evs[i].created.Before(evs[j].created)
			}
			return evs[i].id < evs[j].id
		})
		var start *ev
		for i := range evs {
			e := &evs[i]
			switch e.action {
			case "add":
				if start != nil {
					dupAdds++
					continue
				}
				start = e
			case "remove":
				if start == nil {
					orphanRemoves++
					continue
				}
				want = append(want, strings.Join([]string{k.typ, fmt.Sprint(k.resource), fmt.Sprint(k.label),
					cell(start.created), cell(e.created), cell(start.user), cell(e.user),
					fmt.Sprint(e.created.Sub(start.created).Microseconds())}, "|"))
				closed++
				start = nil
			default:
				t.Fatalf("label event %d has action %q", e.id, e.action)
			}
		}
		if start != nil {
			want = append(want, strings.Join([]string{k.typ, fmt.Sprint(k.resource), fmt.Sprint(k.label),
				cell(start.created), "∅", cell(start.user), "∅", "∅"}, "|"))
			open++
		}
	}
	sort.Strings(want)
	sameList(t, "label_intervals", got, want)

	t.Logf("%d resource/label pairs: %d closed spans, %d open; ignored: %d adds while open, %d removes with nothing open, %d events of deleted labels",
		len(byKey), closed, open, dupAdds, orphanRemoves, nullLabels)
	if dupAdds == 0 || orphanRemoves == 0 || nullLabels == 0 {
		t.Errorf("the data has %d ignored adds, %d ignored removes and %d events of deleted labels; the rule's edge cases are not exercised",
			dupAdds, orphanRemoves, nullLabels)
	}
	if closed == 0 || open == 0 {
		t.Errorf("%d closed and %d open spans: want both kinds", closed, open)
	}
}

// partitionFiles counts the *.parquet files of every partition directory
// of every fact table, keyed "<table>/created_month=M".
func partitionFiles(t *testing.T, parquetDir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tbl := range schemas.Facts() {
		root := filepath.Join(parquetDir, tbl.Name)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(p, ".parquet") {
				rel, _ := filepath.Rel(parquetDir, filepath.Dir(p))
				out[filepath.ToSlash(rel)]++
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	return out
}

// factSnapshot is every row of every fact table, rendered, in DuckDB and in
// the Parquet datasets (with the hive partition column).
type factSnapshot struct {
	duck, parquet map[string][]string
}

func (h *harness) snapshotFacts() factSnapshot {
	h.t.Helper()
	s := factSnapshot{duck: map[string][]string{}, parquet: map[string][]string{}}
	h.withDB(func(db *sql.DB) {
		for _, tbl := range schemas.Facts() {
			glob := filepath.Join(h.cfg.Warehouse.Parquet, tbl.Name, "**", "*.parquet")
			s.duck[tbl.Name] = wt.RowsOf(h.t, db, "SELECT * FROM "+tbl.Name)
			s.parquet[tbl.Name] = wt.RowsOf(h.t, db, fmt.Sprintf(
				"SELECT * FROM read_parquet('%s', hive_partitioning = true, union_by_name = true)", glob))
			// The same rows in both sinks.
			inParquet := wt.RowsOf(h.t, db, fmt.Sprintf(
				"SELECT * EXCLUDE (%s) FROM read_parquet('%s', hive_partitioning = true, union_by_name = true)",
				schemas.PartitionColumn, glob))
			sameList(h.t, tbl.Name+": DuckDB vs Parquet", s.duck[tbl.Name], inParquet)
		}
	})
	return s
}

// TestCompactAfterTenIncrementalRuns compacts a warehouse grown by eleven
// runs (every fact table, audit events included): every partition ends
// with one file, and no row changes.
func TestCompactAfterTenIncrementalRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("eleven runs")
	}
	h := newHarness(t, gitlabfake.Options{Seed: 31, Scale: smallScale()}, auditPipeline)
	h.mustRun()
	for i := range 10 {
		h.fake.AddActivity(int64(100 + i))
		h.mustRun()
	}
	h.checkExact(auditScope(h.fake.Data()))

	before := partitionFiles(t, h.cfg.Warehouse.Parquet)
	files, multi := 0, 0
	for _, n := range before {
		files += n
		if n > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Fatalf("no partition has more than one file after eleven runs: %v", before)
	}
	t.Logf("before compaction: %d files in %d partitions, %d of them with more than one file", files, len(before), multi)
	snap := h.snapshotFacts()

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	w, err := load.Open(context.Background(), load.Options{DuckDBPath: h.cfg.Warehouse.DuckDB,
		ParquetDir: h.cfg.Warehouse.Parquet, RunID: "compact", Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := w.Compact(context.Background())
	if cerr := w.Close(); cerr != nil {
		t.Errorf("close: %v", cerr)
	}
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	mem.AssertSize(t, 0)
	t.Logf("compact: %+v", stats)
	if stats.Partitions != multi || stats.FilesRemoved != files-(len(before)-multi) {
		t.Errorf("compact rewrote %d partitions of %d files; want %d partitions of %d files",
			stats.Partitions, stats.FilesRemoved, multi, files-(len(before)-multi))
	}

	after := partitionFiles(t, h.cfg.Warehouse.Parquet)
	if !slices.Equal(slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before))) {
		t.Errorf("partitions changed:\nbefore %v\nafter  %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
	for part, n := range after {
		if n != 1 {
			t.Errorf("%s holds %d files after compaction, want 1", part, n)
		}
	}
	// Nothing is left behind in the work directories (empty directories
	// may stay).
	for _, work := range []string{".staging", ".compact"} {
		err := filepath.WalkDir(filepath.Join(h.cfg.Warehouse.Parquet, work), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				t.Errorf("left behind by compaction: %s", p)
			}
			return err
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}

	snapAfter := h.snapshotFacts()
	for _, tbl := range schemas.Facts() {
		sameList(t, tbl.Name+" in DuckDB, after vs before", snapAfter.duck[tbl.Name], snap.duck[tbl.Name])
		sameList(t, tbl.Name+" in Parquet, after vs before", snapAfter.parquet[tbl.Name], snap.parquet[tbl.Name])
	}
	// The manifest lists exactly the files on disk.
	var onDisk []string
	for part := range after {
		matches, _ := filepath.Glob(filepath.Join(h.cfg.Warehouse.Parquet, filepath.FromSlash(part), "*.parquet"))
		for _, m := range matches {
			rel, _ := filepath.Rel(h.cfg.Warehouse.Parquet, m)
			onDisk = append(onDisk, filepath.ToSlash(rel))
		}
	}
	sort.Strings(onDisk)
	sameList(t, "manifest vs files", h.query("SELECT path FROM _labtrail_files"), onDisk)
	h.checkExact(auditScope(h.fake.Data()))
}

// TestRunRecords: every run through the harness adds one _labtrail_runs row
// whose rows_json is exactly that run's Result.Rows.
func TestRunRecords(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 41, Scale: gitlabfake.Scale{Users: 4, IssuesPerProject: 8,
		MRsPerProject: 4, EpicsPerGroup: 2, EventsPerProject: 80, BigProjectEvents: 120, ResourceEventsPerParent: 4}}, acmePipeline)
	type run struct {
		rows     map[string]int64
		requests int64
	}
	var runs []run
	do := func() {
		res, c := h.mustRun()
		runs = append(runs, run{res.Rows, c.Stats.Requests.Load()})
	}
	do() // full
	h.fake.AddActivity(42)
	do() // incremental
	do() // nothing new
	h.fake.AddActivity(43)
	do() // incremental again

	var got []string
	h.withDB(func(db *sql.DB) {
		rows, err := db.Query(`SELECT run_id, outcome, rows_json, requests, started_at <= ended_at FROM _labtrail_runs ORDER BY started_at`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		i := 0
		for rows.Next() {
			var id, outcome, rowsJSON string
			var requests int64
			var ordered bool
			if err := rows.Scan(&id, &outcome, &rowsJSON, &requests, &ordered); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
			if i >= len(runs) {
				i++
				continue
			}
			r := runs[i]
			var stored map[string]int64
			if err := json.Unmarshal([]byte(rowsJSON), &stored); err != nil {
				t.Errorf("run %d (%s): rows_json %q: %v", i, id, rowsJSON, err)
			}
			if !maps.Equal(stored, r.rows) {
				t.Errorf("run %d (%s): rows_json %s, want %v", i, id, rowsJSON, r.rows)
			}
			if outcome != OutcomeSuccess || requests != r.requests || !ordered {
				t.Errorf("run %d (%s): outcome %q, requests %d, started_at <= ended_at %v; want success, %d, true",
					i, id, outcome, requests, ordered, r.requests)
			}
			i++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	})
	if len(got) != len(runs) {
		t.Fatalf("_labtrail_runs has %d rows (%v) after %d runs", len(got), got, len(runs))
	}
	// Not vacuous: the runs added rows, then none, then rows again.
	if runs[0].rows["events"] == 0 || runs[1].rows["label_events"] == 0 || runs[3].rows["events"] == 0 {
		t.Errorf("runs added too little to tell anything: %+v", runs)
	}
	for table, n := range runs[2].rows {
		if n != 0 {
			t.Errorf("the idle run added %d rows to %s", n, table)
		}
	}
	// Summed over the runs, the records account for every stored row.
	for _, tbl := range schemas.Facts() {
		var sum int64
		for _, r := range runs {
			sum += r.rows[tbl.Name]
		}
		if got := h.query("SELECT count(*) FROM " + tbl.Name); len(got) != 1 || got[0] != fmt.Sprint(sum) {
			t.Errorf("%s holds %v rows; the run records add up to %d", tbl.Name, got, sum)
		}
	}
}
