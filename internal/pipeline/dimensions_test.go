package pipeline

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// A warehouse written before the parents' new columns and bridge tables
// existed is upgraded by the next run: every issue, merge request and epic
// is listed again (not only those changed since the watermark) and stored
// with the new columns and bridge rows, exactly, though nothing changed on
// the server; the run after lists only what changed again.
func TestUpgradeListsParentsAgain(t *testing.T) {
	h := newHarness(t, notesInstance(), acmePipeline)
	h.mustRun()
	old := map[string][]string{
		"issues": {"labels", "assignee_ids", "milestone_id", "weight", "issue_type", "confidential", "due_date",
			"time_estimate", "total_time_spent"},
		"merge_requests": {"draft", "source_branch", "target_branch", "merged_by_id", "merge_user_id", "reviewer_ids",
			"assignee_ids", "labels", "milestone_id"},
		"epics": {"work_item_id"},
	}
	var ddl []string
	for table, cols := range old {
		for _, c := range cols {
			ddl = append(ddl, "ALTER TABLE "+table+" DROP COLUMN "+c)
		}
	}
	for _, b := range []string{"issue_assignees", "issue_labels", "merge_request_assignees", "merge_request_reviewers", "merge_request_labels"} {
		ddl = append(ddl, "DROP TABLE "+b)
	}
	h.exec(strings.Join(ddl, ";\n"))

	listedFrom := h.recordListingStarts()
	h.mustRun()
	h.checkExact(acmeScope(h.fake.Data()))
	if got := h.query("SELECT count(*) FROM _labtrail_refresh")[0]; got != "0" {
		t.Errorf("%s refresh marks left after a successful run", got)
	}
	for _, from := range listedFrom() {
		if !strings.HasPrefix(from, "2024-01-01") {
			t.Errorf("the upgrade listed parents updated after %s, not since", from)
		}
	}

	listedFrom = h.recordListingStarts()
	h.mustRun()
	for _, from := range listedFrom() {
		if strings.HasPrefix(from, "2024-01-01") {
			t.Error("the run after the upgrade listed every parent again")
		}
	}
}

// recordListingStarts records the updated_after of every issue, merge
// request and epic listing request from now on; the function returned
// gives them.
func (h *harness) recordListingStarts() func() []string {
	var mu sync.Mutex
	var out []string
	h.setHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasSuffix(p, "/issues") || strings.HasSuffix(p, "/merge_requests") || strings.HasSuffix(p, "/epics") {
			mu.Lock()
			out = append(out, r.URL.Query().Get("updated_after"))
			mu.Unlock()
		}
		h.fake.ServeHTTP(w, r)
	}))
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		if len(out) == 0 {
			h.t.Fatal("no parent listing request")
		}
		return out
	}
}

// bridgePairs returns, per bridge table, the (parent, user) pairs of the
// fake's issues and merge requests in projects.
func bridgePairs(d *gitlabfake.Data, projects map[int64]bool) map[string][]string {
	out := map[string][]string{}
	add := func(table string, parent int64, users []int64) {
		for _, u := range users {
			out[table] = append(out[table], fmt.Sprintf("%d|%d", parent, u))
		}
	}
	for _, is := range d.Issues {
		if projects[is.ProjectID] {
			add("issue_assignees", is.ID, is.AssigneeIDs)
		}
	}
	for _, mr := range d.MergeRequests {
		if projects[mr.ProjectID] {
			add("merge_request_assignees", mr.ID, mr.AssigneeIDs)
			add("merge_request_reviewers", mr.ID, mr.ReviewerIDs)
		}
	}
	return out
}

// A user unassigned (or a reviewer removed) between runs loses their
// bridge row, in DuckDB and in Parquet, while the parent's other rows
// stay.
func TestUnassignedUsersLeaveTheBridges(t *testing.T) {
	h := newHarness(t, notesInstance(), acmePipeline)
	h.mustRun()
	projects := map[int64]bool{gitlabfake.APIProjectID: true, gitlabfake.DBProjectID: true, gitlabfake.BigProjectID: true,
		gitlabfake.ToolProjectID: true}
	before := bridgePairs(h.fake.Data(), projects)
	h.fake.AddActivity(26)
	after := bridgePairs(h.fake.Data(), projects)
	removed := 0
	for table, pairs := range before {
		parquet := fmt.Sprintf("read_parquet('%s/%s/data.parquet')", h.cfg.Warehouse.Parquet, table)
		stored := func(src string) []string { return h.query("SELECT " + bridgeCols(table) + " FROM " + src) }
		for _, p := range pairs {
			if slices.Contains(after[table], p) {
				continue
			}
			removed++
			if !slices.Contains(stored(table), p) || !slices.Contains(stored(parquet), p) {
				t.Fatalf("%s %s was never stored", table, p)
			}
			defer func() {
				if slices.Contains(stored(table), p) || slices.Contains(stored(parquet), p) {
					t.Errorf("%s %s is still stored after its user was removed", table, p)
				}
			}()
		}
	}
	if removed == 0 {
		t.Fatal("the activity removed no assignee or reviewer: the test proves nothing (try another AddActivity seed)")
	}
	h.mustRun()
	h.checkExact(acmeScope(h.fake.Data()))
	t.Logf("%d bridge rows removed", removed)
}

func bridgeCols(table string) string {
	if strings.HasPrefix(table, "issue") {
		return "issue_id, user_id"
	}
	return "merge_request_id, user_id"
}
