package gitlabfake

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// raw decodes a listing page by page into generic objects, so the tests
// see GitLab's field names and shapes, not a struct's idea of them.
func raw(t *testing.T, s *Server, path string) []map[string]json.RawMessage {
	t.Helper()
	return flatten(fetchAll[map[string]json.RawMessage](t, s, path))
}

func field[T any](t *testing.T, obj map[string]json.RawMessage, key string) T {
	t.Helper()
	var v T
	m, ok := obj[key]
	if !ok {
		t.Fatalf("no %q in %v", key, obj)
	}
	if err := json.Unmarshal(m, &v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v
}

func userIDsOf(t *testing.T, obj map[string]json.RawMessage, key string) []int64 {
	t.Helper()
	ids := []int64{}
	for _, u := range field[[]tUser](t, obj, key) {
		ids = append(ids, u.ID)
	}
	return ids
}

func byID[T any](rows []T, id func(*T) int64) map[int64]*T {
	m := map[int64]*T{}
	for i := range rows {
		m[id(&rows[i])] = &rows[i]
	}
	return m
}

// Issues and merge requests render the fields analysts read as GitLab
// does: assignees and reviewers as user objects, labels as sorted names,
// the milestone their events left, weight only where Premium licenses it,
// merge fields that agree with the state.
func TestParentFields(t *testing.T) {
	s := shared()
	d := s.Data()
	cur := d.Current()
	issues := byID(d.Issues, func(i *Issue) int64 { return i.ID })
	seen := map[string]int{}
	for _, pid := range []int64{APIProjectID, ToolProjectID} {
		for _, r := range raw(t, s, "/api/v4/projects/"+itoa64(pid)+"/issues?per_page=100") {
			is := issues[field[int64](t, r, "id")]
			c := cur[ParentRef{"Issue", is.ID}]
			if got := userIDsOf(t, r, "assignees"); !slices.Equal(got, is.AssigneeIDs) {
				t.Fatalf("issue %d assignees %v, want %v", is.ID, got, is.AssigneeIDs)
			}
			if got := field[[]string](t, r, "labels"); !slices.Equal(got, c.Labels) || !slices.IsSorted(got) {
				t.Fatalf("issue %d labels %q, want %q", is.ID, got, c.Labels)
			}
			ms := field[*struct{ ID int64 }](t, r, "milestone")
			if (ms == nil) != (c.MilestoneID == 0) || ms != nil && ms.ID != c.MilestoneID {
				t.Fatalf("issue %d milestone %v, want %d", is.ID, ms, c.MilestoneID)
			}
			w, hasWeight := r["weight"]
			if hasWeight != (pid == APIProjectID) {
				t.Fatalf("project %d: weight sent %v (Premium only)", pid, hasWeight)
			}
			if hasWeight && c.Weight != nil && string(w) != itoa64(*c.Weight) || hasWeight && c.Weight == nil && string(w) != "null" {
				t.Fatalf("issue %d weight %s, want %v", is.ID, w, c.Weight)
			}
			if got := field[string](t, r, "issue_type"); got != is.IssueType || field[string](t, r, "type") != strings.ToUpper(got) {
				t.Fatalf("issue %d type %s", is.ID, got)
			}
			if field[bool](t, r, "confidential") != is.Confidential || field[*string](t, r, "due_date") == nil != (is.DueDate == nil) {
				t.Fatalf("issue %d confidential or due date %v", is.ID, r)
			}
			ts := field[struct {
				TimeEstimate   int64 `json:"time_estimate"`
				TotalTimeSpent int64 `json:"total_time_spent"`
			}](t, r, "time_stats")
			if ts.TimeEstimate != is.TimeEstimate || ts.TotalTimeSpent != is.TotalTimeSpent {
				t.Fatalf("issue %d time_stats %+v", is.ID, ts)
			}
			seen["assignees"] += min(len(is.AssigneeIDs), 1)
			seen["unassigned"] += 1 - min(len(is.AssigneeIDs), 1)
			seen["labels"] += min(len(c.Labels), 1)
			seen["milestone"] += min(int(c.MilestoneID), 1)
			if hasWeight && c.Weight != nil {
				seen["weight"]++
			}
		}
	}
	mrs := byID(d.MergeRequests, func(m *MergeRequest) int64 { return m.ID })
	for _, r := range raw(t, s, "/api/v4/projects/"+itoa64(APIProjectID)+"/merge_requests?per_page=100") {
		mr := mrs[field[int64](t, r, "id")]
		if got := userIDsOf(t, r, "reviewers"); !slices.Equal(got, mr.ReviewerIDs) || slices.Contains(got, mr.AuthorID) {
			t.Fatalf("MR %d reviewers %v, want %v", mr.ID, got, mr.ReviewerIDs)
		}
		if got := userIDsOf(t, r, "assignees"); !slices.Equal(got, mr.AssigneeIDs) {
			t.Fatalf("MR %d assignees %v, want %v", mr.ID, got, mr.AssigneeIDs)
		}
		mergedBy, mergeUser := field[*tUser](t, r, "merged_by"), field[*tUser](t, r, "merge_user")
		if merged := mr.State == "merged"; merged && field[bool](t, r, "draft") || !merged && (mergedBy != nil || mergeUser != nil) {
			t.Fatalf("MR %d (%s): draft %s, merged_by %v, merge_user %v", mr.ID, mr.State, r["draft"], mergedBy, mergeUser)
		}
		if mergeUser != nil && mergeUser.ID != mr.MergeUserID || mergedBy != nil && mergedBy.ID != mr.MergedByID {
			t.Fatalf("MR %d merge users %v %v", mr.ID, mergedBy, mergeUser)
		}
		if field[bool](t, r, "draft") != field[bool](t, r, "work_in_progress") || field[string](t, r, "target_branch") != mr.TargetBranch {
			t.Fatalf("MR %d draft or target branch %v", mr.ID, r)
		}
		for _, k := range []string{"weight", "issue_type", "due_date"} {
			if _, ok := r[k]; ok {
				t.Fatalf("MR %d has the issue field %s", mr.ID, k)
			}
		}
		seen["reviewers"] += min(len(mr.ReviewerIDs), 1)
		if field[bool](t, r, "draft") {
			seen["draft"]++
		}
		if mergedBy != nil && mergeUser != nil && mergedBy.ID != mergeUser.ID {
			seen["auto-merge"]++
		}
	}
	for _, k := range []string{"assignees", "unassigned", "labels", "milestone", "weight", "reviewers", "draft", "auto-merge"} {
		if seen[k] == 0 {
			t.Errorf("no parent shows %s: the fields are not exercised", k)
		}
	}
}

// Notes in events carry GitLab's Note fields; internal notes (issues
// only) say so in their body, so tests can look for them anywhere.
func TestNoteAndEventFields(t *testing.T) {
	s := shared()
	seen := map[string]int{}
	for _, pid := range []int64{APIProjectID, ToolProjectID} {
		for _, e := range raw(t, s, "/api/v4/projects/"+itoa64(pid)+"/events?per_page=100") {
			if field[bool](t, e, "imported") != (field[string](t, e, "imported_from") != "none") {
				t.Fatalf("event %s: imported %s from %s", e["id"], e["imported"], e["imported_from"])
			}
			if field[bool](t, e, "imported") {
				seen["imported"]++
			}
			if p, ok := e["push_data"]; ok {
				push := field[map[string]json.RawMessage](t, map[string]json.RawMessage{"p": p}, "p")
				if bulk := string(push["ref_count"]) != "null"; bulk != (string(push["ref"]) == "null") {
					t.Fatalf("push %s: ref_count %s with ref %s", e["id"], push["ref_count"], push["ref"])
				} else if bulk {
					seen["bulk push"]++
				}
			}
			n, ok := e["note"]
			if !ok {
				continue
			}
			note := field[map[string]json.RawMessage](t, map[string]json.RawMessage{"n": n}, "n")
			internal, typ := field[bool](t, note, "internal"), field[*string](t, note, "type")
			body, noteable := field[string](t, note, "body"), field[string](t, note, "noteable_type")
			if internal != strings.HasPrefix(body, "INTERNAL-") || internal && noteable != "Issue" || internal != field[bool](t, note, "confidential") {
				t.Fatalf("note %s: internal %v, body %q on %s", note["id"], internal, body, noteable)
			}
			_, hasPos := note["position"]
			_, hasCommit := note["commit_id"]
			_, hasResolved := note["resolved"]
			diff := typ != nil && *typ == "DiffNote"
			if hasPos != diff || hasCommit != (diff && noteable == "MergeRequest") || hasResolved != field[bool](t, note, "resolvable") {
				t.Fatalf("note %s (%v): position %v, commit_id %v, resolved %v", note["id"], typ, hasPos, hasCommit, hasResolved)
			}
			if diff {
				pos := field[struct {
					NewPath string `json:"new_path"`
					NewLine *int64 `json:"new_line"`
					OldLine *int64 `json:"old_line"`
				}](t, note, "position")
				if pos.NewPath == "" || pos.NewLine == nil && pos.OldLine == nil {
					t.Fatalf("note %s: position %s", note["id"], note["position"])
				}
				seen["diff note"]++
			}
			if internal {
				seen["internal"]++
			}
			if typ != nil && *typ == "DiscussionNote" {
				seen["discussion"]++
			}
		}
	}
	for _, k := range []string{"imported", "bulk push", "internal", "diff note", "discussion"} {
		if seen[k] == 0 {
			t.Errorf("no event shows %s", k)
		}
	}
}

// Epics carry their work item id, and so do their label and state events
// (resource_work_item_id); issue events do not.
func TestEpicWorkItems(t *testing.T) {
	s := shared()
	d := s.Data()
	ep := d.Epics[0]
	if ep.WorkItemID == 0 {
		t.Fatal("epic without a work item id")
	}
	for _, r := range raw(t, s, "/api/v4/groups/"+itoa64(ep.GroupID)+"/epics?per_page=100") {
		if field[int64](t, r, "id") == ep.ID && field[int64](t, r, "work_item_id") != ep.WorkItemID {
			t.Fatalf("epic %d work_item_id %s", ep.ID, r["work_item_id"])
		}
	}
	for _, fam := range []string{"label", "state"} {
		evs := raw(t, s, "/api/v4/groups/"+itoa64(ep.GroupID)+"/epics/"+itoa64(ep.ID)+"/resource_"+fam+"_events?per_page=100")
		for _, r := range evs {
			if field[int64](t, r, "resource_work_item_id") != ep.WorkItemID {
				t.Fatalf("epic %s event %s: resource_work_item_id %s", fam, r["id"], r["resource_work_item_id"])
			}
		}
	}
	is := d.Issues[0]
	for _, r := range raw(t, s, "/api/v4/projects/"+itoa64(is.ProjectID)+"/issues/"+itoa64(is.IID)+"/resource_label_events?per_page=100") {
		if _, ok := r["resource_work_item_id"]; ok {
			t.Fatalf("issue label event %s has resource_work_item_id", r["id"])
		}
	}
}

// Labels, users and milestones carry text_color and archived, locked,
// description and expired.
func TestTopologyFields(t *testing.T) {
	d := shared().Data()
	colors := map[string]string{"#cccccc": "#333333", "#000000": "#FFFFFF", "#d9534f": "#FFFFFF"}
	archived := 0
	for _, l := range d.Labels {
		if want, ok := colors[l.Color]; ok && l.TextColor != want {
			t.Errorf("label %s (%s): text color %s, want %s", l.Name, l.Color, l.TextColor, want)
		}
		if l.Archived {
			archived++
		}
	}
	locked, described := 0, 0
	for _, u := range d.Users {
		if u.Locked {
			locked++
		}
	}
	for _, m := range d.Milestones {
		if m.Description != "" {
			described++
		}
	}
	if archived != 1 || locked != 1 || described == 0 || described == len(d.Milestones) {
		t.Errorf("archived labels %d, locked users %d, milestones with a description %d of %d", archived, locked, described, len(d.Milestones))
	}
	var u map[string]json.RawMessage
	for _, r := range raw(t, shared(), "/api/v4/users?per_page=100") {
		if field[string](t, r, "username") == "frank" {
			u = r
		}
	}
	if u == nil || string(u["locked"]) != "true" || string(u["state"]) != `"active"` {
		t.Errorf("frank (locked, active) renders %v", u)
	}
}

// AddActivity changes some parents' assignees or reviewers and bumps their
// updated_at past the previous Now, so an incremental listing finds them.
func TestAddActivityReassigns(t *testing.T) {
	s := New(Options{Seed: 9, Scale: Scale{IssuesPerProject: 60, MRsPerProject: 40}})
	before := s.Data()
	sum := s.AddActivity(4)
	after := s.Data()
	if sum.Reassigned == 0 {
		t.Fatal("no parent reassigned")
	}
	changed := 0
	for i := range before.Issues {
		b, a := &before.Issues[i], &after.Issues[i]
		if !slices.Equal(b.AssigneeIDs, a.AssigneeIDs) {
			changed++
			if !a.UpdatedAt.After(before.Now) {
				t.Errorf("issue %d reassigned without bumping updated_at", a.ID)
			}
		}
	}
	for i := range before.MergeRequests {
		b, a := &before.MergeRequests[i], &after.MergeRequests[i]
		if !slices.Equal(b.AssigneeIDs, a.AssigneeIDs) || !slices.Equal(b.ReviewerIDs, a.ReviewerIDs) {
			changed++
			if !a.UpdatedAt.After(before.Now) {
				t.Errorf("MR %d reassigned without bumping updated_at", a.ID)
			}
			if slices.Contains(a.ReviewerIDs, a.AuthorID) {
				t.Errorf("MR %d reviewed by its author", a.ID)
			}
		}
	}
	if changed == 0 || changed > sum.Reassigned {
		t.Errorf("%d parents changed, the summary says %d reassigned", changed, sum.Reassigned)
	}
}
