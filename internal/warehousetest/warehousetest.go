// Package warehousetest computes, from the fake GitLab's data, the rows a
// labtrail warehouse must hold, and compares a warehouse with them. It is
// shared by the pipeline tests and the end-to-end tests of the command.
package warehousetest

import (
	"bytes"
	"cmp"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/internal/testkit"
)

// Scope says which of the fake's rows a pipeline covers.
type Scope struct {
	projects map[int64]bool // projects whose events and parents are read
	epicsOf  map[int64]bool // groups whose epics are read
	premium  map[int64]bool // projects where iteration/weight events are licensed
	authors  map[int64]bool // users whose events are read wherever they are
	named    map[int64]bool // groups named (not their subgroups), Premium or not
	since    time.Time

	audit, instanceAudit bool // see WithAudit
	// KeepInternalNotes is the warehouse's internal_notes: keep; false
	// (the default, redact) expects internal notes' bodies to be null.
	KeepInternalNotes bool
	// ParquetFactsOnly compares only fact tables' Parquet files: the
	// dimensions' files of a warehouse that moved to another shard layout
	// hold the old layout's rows beside the new ones, and readers take
	// the newest row per id (the README's rule), which a glob cannot.
	ParquetFactsOnly bool
}

// ScopeOf is the scope of a pipeline naming groups (with subgroups),
// projects (paths) and event authors (usernames; "root" for current_user),
// with since 2024-01-01.
func ScopeOf(d *gitlabfake.Data, groups, projects, authors []string) Scope {
	s := Scope{projects: map[int64]bool{}, epicsOf: map[int64]bool{}, premium: map[int64]bool{}, authors: map[int64]bool{},
		named: map[int64]bool{}, since: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	inGroup := map[int64]bool{}
	for _, g := range d.Groups {
		for _, name := range groups {
			if g.FullPath == name {
				s.named[g.ID] = true
			}
			if g.FullPath == name || strings.HasPrefix(g.FullPath, name+"/") {
				inGroup[g.ID] = true
				if g.Premium {
					s.epicsOf[g.ID] = true
				}
			}
		}
	}
	premiumGroup := map[int64]bool{}
	for _, g := range d.Groups {
		premiumGroup[g.ID] = g.Premium
	}
	for _, p := range d.Projects {
		if inGroup[p.GroupID] || containsStr(projects, p.PathWithNamespace) {
			s.projects[p.ID] = true
			s.premium[p.ID] = premiumGroup[p.GroupID]
		}
	}
	for _, a := range authors {
		if u := d.UserByName(a); u != nil {
			s.authors[u.ID] = true
		}
	}
	return s
}

// WithAudit is s with audit events read too: those of its projects and
// named groups where GitLab licenses them (Premium; the others answer
// 403), and every one of the instance's when instance is set.
func (s Scope) WithAudit(instance bool) Scope {
	s.audit, s.instanceAudit = true, instance
	return s
}

func containsStr(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// The SQL each table is compared by, and the same fields computed from the
// fake's data. The fields cover ids, references, flattened objects and
// timestamps (compared as instants).
const (
	eventsCols = "id, project_id, action_name, author_id, created_at, note_id, push_ref, wiki_page_slug, target_type, " +
		"note_body, note_internal, note_type, note_position_path, note_position_line, note_commit_id, note_resolvable, " +
		"note_resolved, imported, imported_from, push_ref_count"
	labelCols     = "id, resource_type, resource_id, resource_iid, project_id, group_id, action, user_id, label_id, created_at, work_item_id"
	stateCols     = "id, resource_type, resource_id, resource_iid, project_id, group_id, state, user_id, created_at, work_item_id"
	milestoneCols = "id, resource_type, resource_id, resource_iid, project_id, action, user_id, milestone_id, created_at"
	iterationCols = "id, resource_type, resource_id, resource_iid, project_id, action, user_id, iteration_id, created_at"
	weightCols    = "id, issue_id, resource_iid, project_id, weight, user_id, created_at"
	// activityCols renders the user-id lists as text, a null element as
	// "null", so that lists compare as strings.
	activityCols = "id, resource_type, resource_id, resource_iid, project_id, group_id, created_at, user_id, action, body, " +
		"array_to_string(list_transform(target_user_ids, x -> coalesce(x::VARCHAR, 'null')), ','), " +
		"len(added_user_ids) + len(removed_user_ids), new_value, internal, work_item_id"
	auditCols = "id, scope_type, scope_id, entity_type, entity_id, entity_path, author_id, author_name, event_name, " +
		"created_at, target_type, target_id, target_details, custom_message, ip_address, details"
)

var tableCols = map[string]string{
	"events": eventsCols, "label_events": labelCols, "state_events": stateCols,
	"milestone_events": milestoneCols, "iteration_events": iterationCols, "weight_events": weightCols,
	"audit_events": auditCols, "activity": activityCols,
}

func expectEvents(d *gitlabfake.Data, s Scope) []string {
	var out []string
	for _, e := range d.Events {
		if e.Hidden || e.CreatedAt.Before(s.since) || !(s.projects[e.ProjectID] || s.authors[e.AuthorID]) {
			continue
		}
		ref, refCount, slug, importedFrom := "∅", "∅", "∅", "none"
		if e.Push != nil {
			ref, refCount = str0(e.Push.Ref), id0(e.Push.RefCount)
		}
		if e.Wiki != nil {
			slug = e.Wiki.Slug
		}
		if e.ImportedFrom != "" {
			importedFrom = e.ImportedFrom
		}
		out = append(out, strings.Join(append([]string{fmt.Sprint(e.ID), fmt.Sprint(e.ProjectID), e.ActionName,
			fmt.Sprint(e.AuthorID), ts(e.CreatedAt)}, append(noteFields(e.Note, s.KeepInternalNotes, ref, slug, str0(e.TargetType)),
			fmt.Sprint(e.ImportedFrom != ""), importedFrom, refCount)...), "|"))
	}
	return sortStrings(out)
}

// expectAudit renders the audit events s covers as the warehouse must
// hold them: created_at as GitLab renders it (milliseconds), details as
// it sends them, the path-valued target_id of older rows only there.
func expectAudit(t testing.TB, d *gitlabfake.Data, s Scope) []string {
	premiumGroup := map[int64]bool{}
	for _, g := range d.Groups {
		premiumGroup[g.ID] = g.Premium
	}
	var out []string
	for i := range d.AuditEvents {
		e := &d.AuditEvents[i]
		project := e.EntityType == "Project" && s.projects[e.EntityID] && s.premium[e.EntityID]
		group := e.EntityType == "Group" && s.named[e.EntityID] && premiumGroup[e.EntityID]
		if e.CreatedAt.Before(s.since) || !(s.instanceAudit || project || group) {
			continue
		}
		scope, scopeID := "Instance", "∅"
		if e.EntityType == "Project" || e.EntityType == "Group" {
			scope, scopeID = e.EntityType, fmt.Sprint(e.EntityID)
		}
		details := d.AuditDetails(e)
		text := func(k string) string {
			if v, ok := details[k]; ok {
				return fmt.Sprint(v)
			}
			return "∅"
		}
		target := id0(e.TargetID)
		if e.TargetPath {
			target = "∅"
		}
		raw, err := json.Marshal(details)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{fmt.Sprint(e.ID), scope, scopeID, e.EntityType, fmt.Sprint(e.EntityID),
			text("entity_path"), id0(e.AuthorID), text("author_name"), e.EventName, ts(e.CreatedAt.Truncate(time.Millisecond)),
			text("target_type"), target, text("target_details"), text("custom_message"), text("ip_address"), string(raw)}, "|"))
	}
	return sortStrings(out)
}

// noteFields are an event's note_id, push_ref, wiki_page_slug, target_type
// (given) and note columns, in eventsCols' order. An internal note's body
// is null unless the warehouse keeps internal notes.
func noteFields(n *gitlabfake.Note, keep bool, ref, slug, targetType string) []string {
	if n == nil {
		return []string{"∅", ref, slug, targetType, "∅", "∅", "∅", "∅", "∅", "∅", "∅", "∅"}
	}
	body := n.Body
	if n.Internal && !keep {
		body = "∅"
	}
	path, line, commit, resolved := "∅", "∅", "∅", "∅"
	if p := n.Position; p != nil {
		path, line = str0(cmp.Or(p.NewPath, p.OldPath)), id0(cmp.Or(p.NewLine, p.OldLine))
		if n.NoteableType == "MergeRequest" {
			commit = str0(n.CommitID)
		}
	}
	if n.Resolvable {
		resolved = fmt.Sprint(n.Resolved)
	}
	return []string{fmt.Sprint(n.ID), ref, slug, targetType, body, fmt.Sprint(n.Internal), str0(n.Type), path, line, commit,
		fmt.Sprint(n.Resolvable), resolved}
}

func (s Scope) covers(r gitlabfake.ResourceEvent) bool {
	if r.Hidden || r.CreatedAt.Before(s.since) {
		return false
	}
	if r.ParentType == "Epic" {
		return s.epicsOf[r.GroupID]
	}
	return s.projects[r.ProjectID]
}

func expectResource(d *gitlabfake.Data, s Scope, table string) []string {
	var out []string
	add := func(fields ...string) { out = append(out, strings.Join(fields, "|")) }
	workItems := map[int64]int64{}
	for _, ep := range d.Epics {
		workItems[ep.ID] = ep.WorkItemID
	}
	for _, r := range d.ResourceEvents(strings.TrimSuffix(table, "_events")) {
		if !s.covers(r) {
			continue
		}
		if (table == "iteration_events" || table == "weight_events") && !s.premium[r.ProjectID] {
			continue
		}
		base := []string{fmt.Sprint(r.ID), r.ParentType, fmt.Sprint(r.ParentID), fmt.Sprint(r.ParentIID), id0(r.ProjectID)}
		workItem := id0(workItems[r.ParentID])
		if r.ParentType != "Epic" {
			workItem = "∅"
		}
		switch table {
		case "label_events":
			add(append(base, id0(r.GroupID), r.Action, id0(r.UserID), id0(r.LabelID), ts(r.CreatedAt), workItem)...)
		case "state_events":
			add(append(base, id0(r.GroupID), r.State, id0(r.UserID), ts(r.CreatedAt), workItem)...)
		case "milestone_events":
			add(append(base, r.Action, id0(r.UserID), id0(r.MilestoneID), ts(r.CreatedAt))...)
		case "iteration_events":
			add(append(base, r.Action, id0(r.UserID), id0(r.IterationID), ts(r.CreatedAt))...)
		case "weight_events":
			w := "∅"
			if r.Weight != nil {
				w = fmt.Sprint(*r.Weight)
			}
			add(fmt.Sprint(r.ID), fmt.Sprint(r.ParentID), fmt.Sprint(r.ParentIID), id0(r.ProjectID), w, id0(r.UserID), ts(r.CreatedAt))
		}
	}
	return sortStrings(out)
}

// parsedActions are the SystemNoteMetadata actions of the fake's notes
// whose wording labtrail knows; any other is stored as 'other'.
var parsedActions = map[string]bool{"assignee": true, "reviewer": true, "due_date": true, "title": true,
	"description": true, "work_item_status": true, "relate": true, "relate_to_parent": true,
	"cross_reference": true, "approved": true}

// expectActivity is the activity table: the system notes the token sees
// (not hidden) on the parents in scope, created at or after since, with
// the action GitLab recorded beside each (or 'other'), the users it named
// (null for a name no user has) and the value it set; an internal note's
// body and value are null unless kept.
func expectActivity(d *gitlabfake.Data, s Scope) []string {
	workItems := map[int64]int64{}
	for _, ep := range d.Epics {
		workItems[ep.ID] = ep.WorkItemID
	}
	var out []string
	for _, n := range d.Notes {
		if !n.System || n.Hidden || n.CreatedAt.Before(s.since) {
			continue
		}
		if (n.ParentType == "Epic" && !s.epicsOf[n.GroupID]) || (n.ParentType != "Epic" && !s.projects[n.ProjectID]) {
			continue
		}
		action := n.Action
		if !parsedActions[action] {
			action = "other"
		}
		body, val := n.Body, str0(n.New)
		if n.Internal && !s.KeepInternalNotes {
			body, val = "∅", "∅"
		}
		targets, moved := "∅", "∅"
		if n.Targets != nil {
			ids := make([]string, len(n.Targets))
			for i, id := range n.Targets {
				ids[i] = "null"
				if id != 0 {
					ids[i] = fmt.Sprint(id)
				}
			}
			targets, moved = strings.Join(ids, ","), fmt.Sprint(len(ids))
		}
		workItem := "∅"
		if n.ParentType == "Epic" {
			workItem = id0(workItems[n.ParentID])
		}
		out = append(out, strings.Join([]string{fmt.Sprint(n.ID), n.ParentType, fmt.Sprint(n.ParentID), fmt.Sprint(n.ParentIID),
			id0(n.ProjectID), id0(n.GroupID), ts(n.CreatedAt), id0(n.AuthorID), action, body, targets, moved, val,
			fmt.Sprint(n.Internal), workItem}, "|"))
	}
	return sortStrings(out)
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}

// CheckExact compares every fact table (audit_events only for a scope
// WithAudit), in DuckDB and in the Parquet datasets under parquetDir, with
// the server's rows for scope s: nothing missing, nothing doubled, fields
// equal.
// CheckExact compares every fact table, in DuckDB and in the Parquet
// datasets under parquetDir, with the server's rows for scope s: nothing
// missing, nothing doubled, fields equal. So it does the parent dimensions
// (issues, merge requests, epics) and their bridge tables, and the values
// of the users, labels and milestones stored.
func CheckExact(t testing.TB, db *sql.DB, parquetDir string, d *gitlabfake.Data, s Scope) {
	t.Helper()
	for table, cols := range tableCols {
		var want []string
		switch table {
		case "events":
			want = expectEvents(d, s)
		case "audit_events":
			if !s.audit {
				continue
			}
			want = expectAudit(t, d, s)
		case "activity":
			want = expectActivity(d, s)
		default:
			want = expectResource(d, s, table)
		}
		if len(want) == 0 {
			t.Errorf("%s: the fake serves no rows in scope; the test proves nothing", table)
		}
		got := RowsOf(t, db, "SELECT "+cols+" FROM "+table)
		sameRows(t, "duckdb "+table, got, want)
		pq := filepath.Join(parquetDir, table, "**", "*.parquet")
		got = RowsOf(t, db, fmt.Sprintf("SELECT %s FROM read_parquet('%s', hive_partitioning = true, union_by_name = true)", cols, pq))
		sameRows(t, "parquet "+table, got, want)
	}
	checkParents(t, db, parquetDir, d, s)
	checkEntityValues(t, db, parquetDir, d, s)
}

// CheckDimensions asserts that every user, label and milestone referenced
// by a fact row, a parent or a bridge row is in its dimension table.
func CheckDimensions(t testing.TB, db *sql.DB) {
	t.Helper()
	for _, q := range []string{
		"SELECT DISTINCT author_id FROM events WHERE author_id IS NOT NULL AND author_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT user_id FROM label_events WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT user_id FROM state_events WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT user_id FROM milestone_events WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT user_id FROM iteration_events WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT user_id FROM weight_events WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT user_id FROM activity WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT u FROM (SELECT unnest(target_user_ids) AS u FROM activity) WHERE u IS NOT NULL AND u NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT label_id FROM label_events WHERE label_id IS NOT NULL AND label_id NOT IN (SELECT id FROM labels)",
		"SELECT DISTINCT milestone_id FROM milestone_events WHERE milestone_id IS NOT NULL AND milestone_id NOT IN (SELECT id FROM milestones)",
		"SELECT DISTINCT iteration_id FROM iteration_events WHERE iteration_id IS NOT NULL AND iteration_id NOT IN (SELECT id FROM iterations)",
		"SELECT DISTINCT resource_id FROM label_events WHERE resource_type = 'Issue' AND resource_id NOT IN (SELECT id FROM issues)",
		"SELECT DISTINCT resource_id FROM label_events WHERE resource_type = 'MergeRequest' AND resource_id NOT IN (SELECT id FROM merge_requests)",
		"SELECT DISTINCT resource_id FROM label_events WHERE resource_type = 'Epic' AND resource_id NOT IN (SELECT id FROM epics)",
		"SELECT DISTINCT user_id FROM issue_assignees WHERE user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT user_id FROM merge_request_assignees WHERE user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT user_id FROM merge_request_reviewers WHERE user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT merged_by_id FROM merge_requests WHERE merged_by_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT merge_user_id FROM merge_requests WHERE merge_user_id NOT IN (SELECT id FROM users)",
		"SELECT DISTINCT milestone_id FROM issues WHERE milestone_id NOT IN (SELECT id FROM milestones)",
		"SELECT DISTINCT milestone_id FROM merge_requests WHERE milestone_id NOT IN (SELECT id FROM milestones)",
	} {
		if missing := RowsOf(t, db, q); len(missing) > 0 {
			t.Errorf("dangling references: %s → %v", q, head(missing))
		}
	}
}

// RowsOf returns query's rows rendered as "a|b|c" strings, sorted; null
// is ∅ and timestamps are UTC instants.
func RowsOf(t testing.TB, db *sql.DB, query string) []string {
	t.Helper()
	out := testkit.Rows(t, db, render, query)
	sort.Strings(out)
	return out
}

func render(v any) string {
	switch x := v.(type) {
	case nil:
		return "∅"
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000000Z")
	default:
		return fmt.Sprint(x)
	}
}

func ts(t time.Time) string { return render(t) }

func id0(v int64) string {
	if v == 0 {
		return "∅"
	}
	return fmt.Sprint(v)
}

func str0(v string) string {
	if v == "" {
		return "∅"
	}
	return v
}

// sameRows compares two sorted row lists and reports a short diff.
func sameRows(t testing.TB, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	gs, ws := map[string]int{}, map[string]int{}
	for _, g := range got {
		gs[g]++
	}
	for _, w := range want {
		ws[w]++
	}
	var missing, extra []string
	for w, n := range ws {
		if gs[w] < n {
			missing = append(missing, w)
		}
	}
	for g, n := range gs {
		if ws[g] < n {
			extra = append(extra, g)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	t.Errorf("%s: %d rows, want %d; %d missing (e.g. %v), %d extra or doubled (e.g. %v)",
		what, len(got), len(want), len(missing), head(missing), len(extra), head(extra))
}

func head(s []string) []string { return s[:min(3, len(s))] }

// NoTokenIn fails if token appears in any file under dir or in logs.
func NoTokenIn(t testing.TB, dir, logs, token string) {
	t.Helper()
	if strings.Contains(logs, token) {
		t.Error("the token appears in the logs")
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("the token appears in %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
