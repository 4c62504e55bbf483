package load

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labtrail/labtrail/schemas"
)

// bridgeRows reads a bridge table from DuckDB and from its Parquet file,
// fails the test if they differ, and returns the rows.
func (e *env) bridgeRows(w *Warehouse, tbl schemas.Table) []string {
	e.t.Helper()
	cols := strings.Join(tbl.Key(), ", ")
	q := "SELECT " + cols + " FROM %s ORDER BY " + cols
	fromDuck := query(e.t, w.DB(), fmt.Sprintf(q, tbl.Name))
	fromParquet := query(e.t, w.DB(), fmt.Sprintf(q, "read_parquet(?)"), filepath.Join(e.pq(), tbl.Name, "data.parquet"))
	if !slices.Equal(fromDuck, fromParquet) {
		e.t.Fatalf("%s: duckdb %q, parquet %q", tbl.Name, fromDuck, fromParquet)
	}
	return fromDuck
}

// A parent's bridge rows are its list's elements, replaced whenever the
// parent is upserted: an unassigned user's row disappears, in DuckDB and,
// once published, in Parquet; a parent not upserted again keeps its rows;
// an empty or null list has none.
func TestBridgesFollowTheirParents(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	upsert := func(tbl schemas.Table, rows ...row) {
		t.Helper()
		e.upsert(w, tbl, rows...)
		if err := w.PublishDimensions(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, tbl schemas.Table, want ...string) {
		t.Helper()
		if got := e.bridgeRows(w, tbl); !slices.Equal(got, want) {
			t.Errorf("%s: %s = %q, want %q", when, tbl.Name, got, want)
		}
	}

	upsert(schemas.Issues,
		row{"id": 5, "iid": 1, "assignee_ids": []int64{3, 4, 3}, "labels": []string{"bug", "priority::high"}},
		row{"id": 6, "iid": 2, "assignee_ids": []int64{4}, "labels": []string{}},
		row{"id": 7, "iid": 3}) // lists GitLab did not send
	upsert(schemas.MergeRequests,
		row{"id": 5, "iid": 1, "assignee_ids": []int64{9}, "reviewer_ids": []int64{3, 4}, "labels": []string{"feature"}})
	check("first run", schemas.IssueAssignees, "5|3", "5|4", "6|4")
	check("first run", schemas.IssueLabels, "5|bug", "5|priority::high")
	check("first run", schemas.MergeRequestAssignees, "5|9")
	check("first run", schemas.MergeRequestReviewers, "5|3", "5|4")
	check("first run", schemas.MergeRequestLabels, "5|feature")

	// Issue 5 loses an assignee and a label, 6 is not listed again, 7
	// gains an assignee; the MR's reviewer list is emptied.
	upsert(schemas.Issues,
		row{"id": 5, "iid": 1, "assignee_ids": []int64{4}, "labels": []string{"bug"}},
		row{"id": 7, "iid": 3, "assignee_ids": []int64{3}})
	upsert(schemas.MergeRequests,
		row{"id": 5, "iid": 1, "assignee_ids": []int64{9}, "reviewer_ids": []int64{}, "labels": []string{"feature"}})
	check("second run", schemas.IssueAssignees, "5|4", "6|4", "7|3")
	check("second run", schemas.IssueLabels, "5|bug")
	check("second run", schemas.MergeRequestReviewers)
	check("second run", schemas.MergeRequestAssignees, "5|9")

	// Bridge rows carry their parent's stamp; lists round-trip through
	// Parquet as lists.
	if got := query(t, w.DB(), "SELECT DISTINCT _run_id FROM issue_assignees"); !slices.Equal(got, []string{"test-run"}) {
		t.Errorf("bridge _run_id %q", got)
	}
	issues := filepath.Join(e.pq(), "issues", "data.parquet")
	if got := query(t, w.DB(), "SELECT id, assignee_ids, labels FROM read_parquet(?) ORDER BY id", issues); !slices.Equal(got,
		[]string{"5|[4]|[bug]", "6|[4]|[]", "7|[3]|NULL"}) {
		t.Errorf("issues in Parquet %q", got)
	}
	if got := query(t, w.DB(), "SELECT column_type FROM (DESCRIBE SELECT assignee_ids, labels FROM read_parquet(?))", issues); !slices.Equal(got,
		[]string{"BIGINT[]", "VARCHAR[]"}) {
		t.Errorf("list types in Parquet %q", got)
	}

	// Bridges are never written directly.
	rec := buildRecord(t, e.alloc, schemas.IssueAssignees, row{"issue_id": 1, "user_id": 2})
	defer rec.Release()
	if err := w.UpsertDimension(e.ctx, schemas.IssueAssignees, rec); err == nil {
		t.Error("a bridge table was upserted directly")
	}
}

// A warehouse written before list columns and bridge tables existed opens:
// its issues table gains BIGINT[] and VARCHAR[] columns (null for the rows
// it holds), the bridge tables are created empty, and the first upsert of
// an old issue fills both.
func TestSchemaEvolutionListsAndBridges(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	path := e.opts("").DuckDBPath
	db := mustOpenDuckDB(t, path)
	if _, err := db.Exec(`CREATE TABLE issues (id BIGINT NOT NULL, iid BIGINT, project_id BIGINT, title VARCHAR,
		state VARCHAR, author_id BIGINT, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, closed_at TIMESTAMPTZ,
		web_url VARCHAR, _extracted_at TIMESTAMPTZ NOT NULL, _run_id VARCHAR NOT NULL, PRIMARY KEY (id));
		INSERT INTO issues (id, iid, title, _extracted_at, _run_id) VALUES (5, 1, 'old', now(), 'old-run')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	w := e.open("run1")
	defer func() { e.close(w) }()
	// Its rows predate the new columns: it is marked for a full listing;
	// tables created just now are not.
	if got, err := w.Refreshes(e.ctx); err != nil || !maps.Equal(got, map[string]bool{"issues": true}) {
		t.Errorf("refreshes %v, %v", got, err)
	}
	want := map[string]string{"labels": "VARCHAR[]", "assignee_ids": "BIGINT[]", "milestone_id": "BIGINT", "confidential": "BOOLEAN", "due_date": "DATE"}
	for col, typ := range want {
		if got := query(t, w.DB(), "SELECT data_type FROM information_schema.columns WHERE table_name = 'issues' AND column_name = ?", col); !slices.Equal(got, []string{typ}) {
			t.Errorf("issues.%s: %q, want %s", col, got, typ)
		}
	}
	if got := query(t, w.DB(), "SELECT id, title, labels, assignee_ids FROM issues"); !slices.Equal(got, []string{"5|old|NULL|NULL"}) {
		t.Errorf("old row %q", got)
	}
	if n := queryInt(t, w.DB(), "SELECT count(*) FROM issue_assignees"); n != 0 {
		t.Errorf("issue_assignees has %d rows", n)
	}
	e.upsert(w, schemas.Issues, row{"id": 5, "iid": 1, "title": "new", "assignee_ids": []int64{3}, "labels": []string{"bug"}})
	if err := w.PublishDimensions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.bridgeRows(w, schemas.IssueAssignees); !slices.Equal(got, []string{"5|3"}) {
		t.Errorf("issue_assignees %q", got)
	}
	if got := e.bridgeRows(w, schemas.IssueLabels); !slices.Equal(got, []string{"5|bug"}) {
		t.Errorf("issue_labels %q", got)
	}

	// Cleared, the mark stays cleared: the next Open adds no column.
	if err := w.ClearRefreshes(e.ctx, []string{"issues"}); err != nil {
		t.Fatal(err)
	}
	e.close(w)
	w = e.open("run2")
	if got, err := w.Refreshes(e.ctx); err != nil || len(got) != 0 {
		t.Errorf("refreshes after clearing %v, %v", got, err)
	}
}
