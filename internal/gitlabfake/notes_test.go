package gitlabfake

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

type tNote struct {
	ID           int64  `json:"id"`
	Body         string `json:"body"`
	System       bool   `json:"system"`
	NoteableType string `json:"noteable_type"`
	NoteableID   int64  `json:"noteable_id"`
	CreatedAt    string `json:"created_at"`
	Author       tUser  `json:"author"`
	Internal     bool   `json:"internal"`
}

// The notes listing pages a parent's notes in created_at order (asc or
// desc), cuts pages before dropping hidden cross-references (so a page
// may be short, even empty, and still name a next one), and answers 404,
// 403 (epics on Free) and 400 as GitLab does.
func TestNotesListing(t *testing.T) {
	s := shared()
	d := s.Data()
	byParent := map[[2]int64][]ParentNote{}
	for _, n := range d.Notes {
		if n.ParentType == "Issue" {
			k := [2]int64{n.ProjectID, n.ParentIID}
			byParent[k] = append(byParent[k], n)
		}
	}
	shortSeen := false
	for k, notes := range byParent {
		slices.SortStableFunc(notes, func(a, b ParentNote) int { return a.CreatedAt.Compare(b.CreatedAt) })
		var want []int64
		hidden := false
		for _, n := range notes {
			if n.Hidden {
				hidden = true
				continue
			}
			want = append(want, n.ID)
		}
		path := "/api/v4/projects/" + itoa64(k[0]) + "/issues/" + itoa64(k[1]) + "/notes?sort=asc&order_by=created_at&per_page=1"
		pages := fetchAll[tNote](t, s, path)
		var got []int64
		for i, p := range pages {
			for _, n := range p.rows {
				got = append(got, n.ID)
			}
			if len(p.rows) == 0 && i < len(pages)-1 {
				shortSeen = true
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("issue %v: paged %v, want %v", k, got, want)
		}
		if hidden && len(pages) != len(notes) {
			t.Fatalf("issue %v: %d pages for %d notes: hidden rows must be dropped after the cut", k, len(pages), len(notes))
		}
	}
	if !shortSeen {
		t.Error("no empty page before the last: no hidden note in the instance")
	}
	for path, code := range map[string]int{
		"/api/v4/projects/acme%2Fapi/issues/99999/notes":                     http.StatusNotFound,
		"/api/v4/projects/acme%2Fapi/merge_requests/99999/notes":             http.StatusNotFound,
		"/api/v4/projects/acme%2Fapi/issues/1/notes?sort=sideways":           http.StatusBadRequest,
		"/api/v4/projects/acme%2Fapi/issues/1/notes?order_by=title":          http.StatusBadRequest,
		"/api/v4/projects/acme%2Fapi/issues/1/notes?order_by=updated_at":     http.StatusOK,
		"/api/v4/groups/" + itoa64(FreeOrgID) + "/epics/" + "501" + "/notes": http.StatusForbidden,
		"/api/v4/groups/" + itoa64(AcmeID) + "/epics/999999/notes":           http.StatusNotFound,
		"/api/v4/groups/" + itoa64(AcmeID) + "/epics/501/notes":              http.StatusOK,
	} {
		if rr := get(t, s, path); rr.Code != code {
			t.Errorf("GET %s: %d, want %d", path, rr.Code, code)
		}
	}
	// Desc (the default) is asc reversed.
	asc := flatten(fetchAll[tNote](t, s, "/api/v4/projects/acme%2Fapi/issues/2/notes?sort=asc"))
	desc := flatten(fetchAll[tNote](t, s, "/api/v4/projects/acme%2Fapi/issues/2/notes?x=1"))
	slices.Reverse(desc)
	if len(asc) == 0 || !slices.EqualFunc(asc, desc, func(a, b tNote) bool { return a.ID == b.ID }) {
		t.Errorf("desc is not asc reversed: %d vs %d notes", len(asc), len(desc))
	}
}

// GET /users?username= answers a JSON array: the user, or nothing for a
// name no user has; both count as user lookups.
func TestUserLookup(t *testing.T) {
	s := New(Options{Seed: 1, Token: testToken})
	if us := decode[[]tUser](t, get(t, s, "/api/v4/users?username=ALICE")); len(us) != 1 || us[0].Username != "alice" {
		t.Errorf("alice: %+v", us)
	}
	if us := decode[[]tUser](t, get(t, s, "/api/v4/users?username="+UnknownUsername)); len(us) != 0 {
		t.Errorf("%s: %+v", UnknownUsername, us)
	}
	if n := s.Requests()["user_lookups"]; n != 2 {
		t.Errorf("%d user lookups counted, want 2", n)
	}
}

// System notes agree with the rest of the instance, before and after
// activity: replaying a parent's assignee (reviewer) notes gives its
// assignees (reviewers), every note lies within its parent's life
// (created_at to updated_at, so a new note bumped updated_at), and the
// generator makes every kind the exporter must handle.
func TestSystemNotesMatchTheData(t *testing.T) {
	s := New(Options{Seed: 3, Token: testToken})
	check := func(when string) {
		d := s.Data()
		type key struct {
			typ string
			id  int64
		}
		life := map[key][2]int64{}
		assignees, reviewers := map[key][]int64{}, map[key][]int64{}
		for _, is := range d.Issues {
			life[key{"Issue", is.ID}] = [2]int64{is.CreatedAt.UnixMilli(), is.UpdatedAt.UnixMilli()}
			assignees[key{"Issue", is.ID}] = is.AssigneeIDs
		}
		for _, mr := range d.MergeRequests {
			life[key{"MergeRequest", mr.ID}] = [2]int64{mr.CreatedAt.UnixMilli(), mr.UpdatedAt.UnixMilli()}
			assignees[key{"MergeRequest", mr.ID}], reviewers[key{"MergeRequest", mr.ID}] = mr.AssigneeIDs, mr.ReviewerIDs
		}
		for _, ep := range d.Epics {
			life[key{"Epic", ep.ID}] = [2]int64{ep.CreatedAt.UnixMilli(), ep.UpdatedAt.UnixMilli()}
		}
		notes := slices.Clone(d.Notes)
		slices.SortStableFunc(notes, func(a, b ParentNote) int { return a.CreatedAt.Compare(b.CreatedAt) })
		replayA, replayR := map[key][]int64{}, map[key][]int64{}
		kinds := map[string]int{}
		for _, n := range notes {
			k := key{n.ParentType, n.ParentID}
			l, ok := life[k]
			if !ok {
				t.Fatalf("%s: note %d on unknown parent %v", when, n.ID, k)
			}
			if at := n.CreatedAt.UnixMilli(); at < l[0] || at > l[1] {
				t.Errorf("%s: note %d (%q) at %v outside its parent's life", when, n.ID, n.Body, n.CreatedAt)
			}
			kinds[n.Action]++
			if n.Internal {
				kinds["internal"]++
			}
			if n.Hidden {
				kinds["hidden"]++
			}
			into := replayA
			switch {
			case n.Action == "reviewer":
				into = replayR
			case n.Action != "assignee":
				continue
			}
			for _, id := range n.Targets {
				if id == 0 {
					continue // the departed user: assigned and unassigned
				}
				if strings.HasPrefix(n.Body, "assigned") || strings.HasPrefix(n.Body, "requested") {
					into[k] = append(into[k], id)
				} else {
					into[k] = slices.DeleteFunc(into[k], func(v int64) bool { return v == id })
				}
			}
		}
		same := func(what string, want, got map[key][]int64) {
			for k, w := range want {
				a, b := slices.Sorted(slices.Values(w)), slices.Sorted(slices.Values(got[k]))
				if !slices.Equal(a, b) {
					t.Errorf("%s: %s of %v are %v, its notes say %v", when, what, k, a, b)
				}
			}
		}
		same("assignees", assignees, replayA)
		same("reviewers", reviewers, replayR)
		for _, kind := range []string{"assignee", "reviewer", "due_date", "title", "work_item_status", "relate", "cross_reference",
			"description", "relate_to_parent", "", "internal", "hidden"} {
			if kinds[kind] == 0 {
				t.Errorf("%s: no %q note", when, kind)
			}
		}
		if kinds["severity"]+kinds["merge"]+kinds["branch"] == 0 {
			t.Errorf("%s: no note in wording the exporter does not know", when)
		}
	}
	check("fresh")
	sum := s.AddActivity(4)
	if sum.Notes == 0 || sum.Reassigned == 0 {
		t.Fatalf("activity added %d notes, reassigned %d", sum.Notes, sum.Reassigned)
	}
	check("after activity")
}
