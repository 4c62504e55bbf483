package warehousetest

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// The issues, merge requests and epics a pipeline lists are stored as they
// are now (labels, milestone and weight as their resource events left
// them, assignees and reviewers as last changed), and the bridge tables
// spell out their lists: the expectations below are computed from the
// fake's data alone.
const (
	issueCols = "id, iid, project_id, state, updated_at, labels, assignee_ids, milestone_id, weight, issue_type, " +
		"confidential, due_date, time_estimate, total_time_spent"
	mrCols = "id, iid, project_id, state, updated_at, merged_at, draft, source_branch, target_branch, merged_by_id, " +
		"merge_user_id, reviewer_ids, assignee_ids, labels, milestone_id"
	epicCols = "id, iid, group_id, state, updated_at, work_item_id"
)

// dimTable is a dimension or bridge table with the columns it is compared
// by and its expected rows.
type dimTable struct {
	name, cols string
	want       []string
}

func expectParents(d *gitlabfake.Data, s Scope) []dimTable {
	cur := d.Current()
	issues := dimTable{name: "issues", cols: issueCols}
	mrs := dimTable{name: "merge_requests", cols: mrCols}
	epics := dimTable{name: "epics", cols: epicCols}
	issueAssignees := dimTable{name: "issue_assignees", cols: "issue_id, user_id"}
	issueLabels := dimTable{name: "issue_labels", cols: "issue_id, label_name"}
	mrAssignees := dimTable{name: "merge_request_assignees", cols: "merge_request_id, user_id"}
	mrReviewers := dimTable{name: "merge_request_reviewers", cols: "merge_request_id, user_id"}
	mrLabels := dimTable{name: "merge_request_labels", cols: "merge_request_id, label_name"}
	bridge := func(t *dimTable, parent int64, values ...any) {
		for _, v := range values {
			t.want = append(t.want, fmt.Sprintf("%d|%v", parent, v))
		}
	}
	for _, is := range d.Issues {
		if !s.projects[is.ProjectID] {
			continue
		}
		c := cur[gitlabfake.ParentRef{Type: "Issue", ID: is.ID}]
		weight := "∅"
		if c.Weight != nil && s.premium[is.ProjectID] {
			weight = fmt.Sprint(*c.Weight)
		}
		due := "∅"
		if is.DueDate != nil {
			due = ts(*is.DueDate)
		}
		issues.want = append(issues.want, join(is.ID, is.IID, is.ProjectID, is.State, ts(is.UpdatedAt), labels(c), is.AssigneeIDs,
			id0(c.MilestoneID), weight, is.IssueType, is.Confidential, due, is.TimeEstimate, is.TotalTimeSpent))
		bridge(&issueAssignees, is.ID, anys(is.AssigneeIDs)...)
		bridge(&issueLabels, is.ID, anys(c.Labels)...)
	}
	for _, mr := range d.MergeRequests {
		if !s.projects[mr.ProjectID] {
			continue
		}
		c := cur[gitlabfake.ParentRef{Type: "MergeRequest", ID: mr.ID}]
		merged := "∅"
		if mr.MergedAt != nil {
			merged = ts(*mr.MergedAt)
		}
		mrs.want = append(mrs.want, join(mr.ID, mr.IID, mr.ProjectID, mr.State, ts(mr.UpdatedAt), merged, mr.Draft, mr.SourceBranch,
			mr.TargetBranch, id0(mr.MergedByID), id0(mr.MergeUserID), mr.ReviewerIDs, mr.AssigneeIDs, labels(c), id0(c.MilestoneID)))
		bridge(&mrAssignees, mr.ID, anys(mr.AssigneeIDs)...)
		bridge(&mrReviewers, mr.ID, anys(mr.ReviewerIDs)...)
		bridge(&mrLabels, mr.ID, anys(c.Labels)...)
	}
	for _, ep := range d.Epics {
		if s.epicsOf[ep.GroupID] {
			epics.want = append(epics.want, join(ep.ID, ep.IID, ep.GroupID, ep.State, ts(ep.UpdatedAt), ep.WorkItemID))
		}
	}
	return []dimTable{issues, mrs, epics, issueAssignees, issueLabels, mrAssignees, mrReviewers, mrLabels}
}

// labels renders a parent's label names as a list (empty, never null:
// GitLab always sends labels).
func labels(c gitlabfake.Current) []string {
	if c.Labels == nil {
		return []string{}
	}
	return c.Labels
}

func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// join renders fields as RowsOf renders a row: lists as [a b], values with
// fmt.Sprint (strings as they are, so "∅" stays null).
func join(fields ...any) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprint(f)
	}
	return strings.Join(parts, "|")
}

// checkParents compares the parent dimensions and the bridge tables, in
// DuckDB and in their Parquet files, with the fake's parents in scope.
func checkParents(t testing.TB, db *sql.DB, parquetDir string, d *gitlabfake.Data, s Scope) {
	t.Helper()
	for _, tbl := range expectParents(d, s) {
		// Every scope has projects, not every one a group with epics; a
		// bridge may be empty on a small instance.
		if len(tbl.want) == 0 && (tbl.name == "issues" || tbl.name == "merge_requests") {
			t.Errorf("%s: the fake has no rows in scope; the test proves nothing", tbl.name)
		}
		sortStrings(tbl.want)
		sameRows(t, "duckdb "+tbl.name, RowsOf(t, db, "SELECT "+tbl.cols+" FROM "+tbl.name), tbl.want)
		if s.ParquetFactsOnly {
			continue
		}
		file := filepath.Join(parquetDir, tbl.name, "data.parquet")
		sameRows(t, "parquet "+tbl.name, RowsOf(t, db, fmt.Sprintf("SELECT %s FROM read_parquet('%s')", tbl.cols, file)), tbl.want)
	}
}

// checkEntityValues compares the columns of users, labels and milestones
// that the fake fixes per entity with its values, for every row stored
// (which rows must be stored, CheckDimensions checks).
func checkEntityValues(t testing.TB, db *sql.DB, parquetDir string, d *gitlabfake.Data, s Scope) {
	t.Helper()
	want := map[string]map[string]string{"users": {}, "labels": {}, "milestones": {}}
	for _, u := range d.Users {
		want["users"][fmt.Sprint(u.ID)] = join(u.ID, u.Locked)
	}
	for _, l := range d.Labels {
		want["labels"][fmt.Sprint(l.ID)] = join(l.ID, l.TextColor, l.Archived, str0(l.Description))
	}
	for _, m := range d.Milestones {
		want["milestones"][fmt.Sprint(m.ID)] = join(m.ID, str0(m.Description), m.DueDate != nil && m.DueDate.Before(d.Now))
	}
	cols := map[string]string{"users": "id, locked", "labels": "id, text_color, archived, description", "milestones": "id, description, expired"}
	for table, byID := range want {
		srcs := []string{table, fmt.Sprintf("read_parquet('%s')", filepath.Join(parquetDir, table, "data.parquet"))}
		if s.ParquetFactsOnly {
			srcs = srcs[:1]
		}
		for _, src := range srcs {
			got := RowsOf(t, db, "SELECT "+cols[table]+" FROM "+src)
			var exp []string
			for _, row := range got {
				id, _, _ := strings.Cut(row, "|")
				exp = append(exp, byID[id])
			}
			if len(got) == 0 {
				t.Errorf("%s: no rows in %s", table, src)
			}
			sameRows(t, table+" in "+src, got, sortStrings(exp))
		}
	}
}
