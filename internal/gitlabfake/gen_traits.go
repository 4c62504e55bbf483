package gitlabfake

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Traits are the fields added to the fake after its random stream was
// fixed (assignees, note types, imports, ...). They are drawn from their
// own deterministic stream per row, seeded by the instance, a purpose and
// the row's id, not from the generator's: so every row generated before
// keeps exactly the values it had, and a row's traits do not depend on
// how many draws other rows took.

// Purposes of trait streams.
const (
	purposeIssue uint64 = iota + 1
	purposeMR
	purposeMergeUser
	purposeEvent
	purposeReassign
	purposeNotes
	purposeNoteActivity
)

// traits is one row's stream of draws.
type traits struct{ x uint64 }

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (g *gen) traits(purpose uint64, id int64) *traits {
	return &traits{x: splitmix64(g.traitSeed ^ splitmix64(purpose<<56^uint64(id)))}
}

// intN draws a number in [0, n).
func (t *traits) intN(n int) int {
	t.x = splitmix64(t.x)
	return int(t.x % uint64(n))
}

// pct reports true in p cases out of 100.
func (t *traits) pct(p int) bool { return t.intN(100) < p }

func (t *traits) sha() string {
	var b [24]byte
	for i := 0; i < 24; i += 8 {
		t.x = splitmix64(t.x)
		binary.LittleEndian.PutUint64(b[i:], t.x)
	}
	return hex.EncodeToString(b[:20])
}

// users draws n distinct users (root and the regular ones), none of them
// in not.
func (g *gen) users(t *traits, n int, not ...int64) []int64 {
	pool := append([]int64{RootID}, g.look.regular...)
	out := []int64{}
	for len(out) < n && len(out)+len(not) < len(pool) {
		u := pool[t.intN(len(pool))]
		if !slices.Contains(out, u) && !slices.Contains(not, u) {
			out = append(out, u)
		}
	}
	return out
}

// issueTraits draws an issue's assignees, type, confidentiality, due date
// and time tracking.
func (g *gen) issueTraits(is *Issue) {
	t := g.traits(purposeIssue, is.ID)
	is.AssigneeIDs = g.users(t, []int{0, 0, 1, 1, 2}[t.intN(5)])
	switch x := t.intN(100); {
	case x < 5:
		is.IssueType = "incident"
	case x < 9:
		is.IssueType = "task"
	default:
		is.IssueType = "issue"
	}
	is.Confidential = t.pct(5)
	if t.pct(30) {
		is.DueDate = ptrTime(date(is.CreatedAt).AddDate(0, 0, 7+t.intN(60)))
	}
	if t.pct(40) {
		is.TimeEstimate = int64(1+t.intN(16)) * 3600
	}
	if t.pct(30) {
		is.TotalTimeSpent = int64(15*(1+t.intN(32))) * 60
	}
}

// mrTraits draws a merge request's target branch, draft flag, assignees
// (mostly its author) and reviewers (never its author).
func (g *gen) mrTraits(mr *MergeRequest) {
	t := g.traits(purposeMR, mr.ID)
	mr.TargetBranch = "main"
	if t.pct(10) {
		mr.TargetBranch = "develop"
	}
	mr.Draft = t.pct(15)
	mr.AssigneeIDs = []int64{}
	if t.pct(70) && mr.AuthorID != GhostID {
		mr.AssigneeIDs = append(mr.AssigneeIDs, mr.AuthorID)
	}
	mr.ReviewerIDs = g.users(t, t.intN(3), mr.AuthorID)
}

// settleMR makes a merge request's merge fields agree with its state: a
// merged MR is no draft, was merged by its merged state event's user
// (mergedBy; 0 for a null user) and has a merge user: mostly the same,
// sometimes its author, who set it to merge when the pipeline succeeds.
func (g *gen) settleMR(mr *MergeRequest, mergedBy int64) {
	if mr.State != "merged" {
		return
	}
	mr.Draft, mr.MergedByID, mr.MergeUserID = false, mergedBy, mergedBy
	if t := g.traits(purposeMergeUser, mr.ID); t.pct(20) && mr.AuthorID != GhostID {
		mr.MergeUserID = mr.AuthorID
	}
}

var diffPaths = []string{"app/login.go", "internal/export/job.go", "web/src/App.tsx", "README.md", "db/migrate/001_init.sql"}

// eventTraits draws an event's import, a push of many refs, and its
// note's type, position, resolution and internal flag. A typed note's
// event has the note's type as its target_type, as GitLab's do.
func (g *gen) eventTraits(e *Event) {
	t := g.traits(purposeEvent, e.ID)
	if t.pct(1) {
		e.ImportedFrom = "github"
	}
	if p := e.Push; p != nil && p.Action == "pushed" && t.pct(2) {
		// GitLab records a push of more than three refs as one event with
		// ref_count and nothing about any single ref.
		*p = PushData{Action: "pushed", RefType: p.RefType, RefCount: int64(4 + t.intN(9))}
	}
	n := e.Note
	if n == nil || n.System {
		return
	}
	switch x := t.intN(100); {
	case n.NoteableType == "MergeRequest" && x < 35:
		n.Type = "DiffNote"
	case n.NoteableType == "MergeRequest" && x < 55, n.NoteableType == "Issue" && x < 25:
		n.Type = "DiscussionNote"
	}
	if n.NoteableType == "Issue" && t.pct(10) {
		n.Internal = true
		n.Body = fmt.Sprintf("INTERNAL-%d: %s", n.ID, n.Body)
	}
	if n.Type == "DiffNote" {
		path, line := diffPaths[t.intN(len(diffPaths))], int64(1+t.intN(300))
		n.Position = &NotePosition{OldPath: path, NewPath: path, NewLine: line}
		switch x := t.intN(100); {
		case x < 15: // a removed line
			n.Position.OldLine, n.Position.NewLine = line, 0
		case x < 40: // an unchanged line
			n.Position.OldLine = line
		}
		n.CommitID = t.sha()
	}
	if n.Type != "" {
		n.Resolvable, n.Resolved = true, t.pct(50)
		e.TargetType = n.Type
	}
}

// reassign changes the assignees (and an MR's reviewers) of about 3% of
// the parents created before the activity, bumping their updated_at to the
// moment of the change, as GitLab does, and returns the system notes that
// record the changes. It returns how many parents it changed.
func (a *activity) reassign() (int, []ParentNote) {
	g, n := a.g, 0
	var notes []ParentNote
	when := func(t *traits) time.Time {
		span := a.newNow.Add(-time.Minute).Sub(a.oldNow.Add(time.Second)).Milliseconds()
		return a.oldNow.Add(time.Second + time.Duration(t.x%uint64(max(span, 1)))*time.Millisecond)
	}
	toggle := func(t *traits, ids []int64, not ...int64) []int64 {
		if len(ids) > 0 && t.pct(50) {
			k := t.intN(len(ids))
			return slices.Delete(slices.Clone(ids), k, k+1)
		}
		return append(slices.Clone(ids), g.users(t, 1, append(not, ids...)...)...)
	}
	note := func(pn ParentNote, at time.Time, action string, body string, target int64) {
		pn.AuthorID, pn.Action, pn.Body, pn.System, pn.CreatedAt = RootID, action, body, true, at.Truncate(time.Millisecond)
		pn.Targets = []int64{target}
		notes = append(notes, pn)
	}
	for i := range a.firstNewIssue {
		is := &a.d.Issues[i]
		if t := g.traits(purposeReassign, is.ID); t.pct(3) {
			at := when(t)
			old := is.AssigneeIDs
			is.AssigneeIDs = toggle(t, is.AssigneeIDs)
			body, who := a.change(old, is.AssigneeIDs, "assigned to @", "unassigned @")
			note(ParentNote{ParentType: "Issue", ParentID: is.ID, ParentIID: is.IID, ProjectID: is.ProjectID}, at, "assignee", body, who)
			is.UpdatedAt = later(is.UpdatedAt, at)
			n++
		}
	}
	for i := range a.firstNewMR {
		mr := &a.d.MergeRequests[i]
		if t := g.traits(purposeReassign, -mr.ID); t.pct(3) {
			at := when(t)
			pn := ParentNote{ParentType: "MergeRequest", ParentID: mr.ID, ParentIID: mr.IID, ProjectID: mr.ProjectID}
			old := mr.AssigneeIDs
			mr.AssigneeIDs = toggle(t, mr.AssigneeIDs)
			body, who := a.change(old, mr.AssigneeIDs, "assigned to @", "unassigned @")
			note(pn, at, "assignee", body, who)
			old = mr.ReviewerIDs
			mr.ReviewerIDs = toggle(t, mr.ReviewerIDs, mr.AuthorID)
			body, who = a.change(old, mr.ReviewerIDs, "requested review from @", "removed review request for @")
			note(pn, at, "reviewer", body, who)
			mr.UpdatedAt = later(mr.UpdatedAt, at)
			n++
		}
	}
	return n, notes
}

// change is the system note body of one user added to or removed from a
// list (toggle changes one user at a time), and that user.
func (a *activity) change(old, cur []int64, added, removed string) (string, int64) {
	name := func(id int64) string { return a.d.Users[a.s.idx.userByID[id]].Username }
	for _, id := range cur {
		if !slices.Contains(old, id) {
			return added + name(id), id
		}
	}
	for _, id := range old {
		if !slices.Contains(cur, id) {
			return removed + name(id), id
		}
	}
	panic("gitlabfake: toggle changed no user") // toggle always changes one
}
