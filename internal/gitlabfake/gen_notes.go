package gitlabfake

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Notes on issues, merge requests and epics (their notes listings): the
// comments, and the system notes in which GitLab alone records assignee,
// reviewer, due-date, title, draft, status and link history. They are
// drawn from their own trait streams (purposeNotes), after everything
// else, so every other row keeps the values it had before notes existed,
// and they lie between their parent's created_at and updated_at, so the
// parents' updated_at already covers them. AddActivity's notes bump it.

// firstNoteID starts the ids of parent notes: far past the ids of the
// Events API's comment notes, which are rows of the same server table.
const firstNoteID int64 = 50_000_001

// UnknownUsername is a user system notes name who no longer exists: the
// lookup of the name finds nobody, so the activity row's id is null.
const UnknownUsername = "departed-contractor"

// ParentNote is a note of an issue, merge request or epic.
type ParentNote struct {
	ID         int64
	ParentType string // "Issue", "MergeRequest" or "Epic"
	ParentID   int64  // the parent's global id (noteable_id)
	ParentIID  int64
	ProjectID  int64 // issues and merge requests
	GroupID    int64 // epics
	AuthorID   int64
	Body       string
	System     bool
	// Internal notes are visible to project members only; the body of an
	// internal system note says so ("INTERNAL ..." is not added: a system
	// note's wording is GitLab's).
	Internal  bool
	CreatedAt time.Time
	// Hidden rows (cross-references to things the token cannot see) are
	// dropped by the visibility filter after the page is cut.
	Hidden bool
	// Action is the system note's SystemNoteMetadata action, as GitLab
	// stores it beside the note (REST does not send it; "" on comments).
	// The bodies no parser is expected to know have actions of their own
	// (severity, merge, branch).
	Action string
	// Targets are the users an assignee or reviewer note names, added
	// ones first; 0 for a name no user has any more.
	Targets []int64
	// New is the value a title, due date (YYYY-MM-DD), status or draft
	// note sets ("" for none).
	New string
}

// noteGen draws the notes of one parent from its trait stream.
type noteGen struct {
	g     *gen
	t     *traits
	names map[int64]string
	pn    ParentNote // the parent's fields, copied into every note
	lo    time.Time
	span  time.Duration
	out   []ParentNote
}

// at is a time k/8 of the way through the parent's life (its created_at
// to its updated_at), plus k seconds, never past updated_at.
func (n *noteGen) at(k int) time.Time {
	t := n.lo.Add(n.span * time.Duration(k) / 8).Add(time.Duration(k) * time.Second).Truncate(time.Millisecond)
	if end := n.lo.Add(n.span); t.After(end) {
		return end
	}
	return t
}

func (n *noteGen) add(t time.Time, author int64, action, body string) *ParentNote {
	p := n.pn
	p.AuthorID, p.Action, p.Body, p.System, p.CreatedAt = author, action, body, action != "", t
	p.Internal = p.System && n.t.pct(4)
	n.out = append(n.out, p)
	return &n.out[len(n.out)-1]
}

// mentions is GitLab's to_sentence of user references: "@a", "@a and @b",
// "@a, @b and @c".
func (n *noteGen) mentions(ids []int64) string {
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = "@" + n.names[id]
	}
	if len(refs) <= 1 {
		return strings.Join(refs, "")
	}
	return strings.Join(refs[:len(refs)-1], ", ") + " and " + refs[len(refs)-1]
}

var commentBodies = []string{"Looks good to me.", "Can you add a test?", "I can reproduce this on main.", "Thanks!", "Blocked on the migration."}

// unknownActions are the SystemNoteMetadata actions of unknownBodies.
var unknownActions = []string{"severity", "merge", "branch"}

// unknownBodies are system notes in wording labtrail's parser does not
// know: they are stored with action 'other'.
var unknownBodies = []string{"changed the severity to **High - S2**", "enabled an automatic merge when the pipeline for 1a2b3c4d succeeds",
	"created branch [`feature/notes`](/acme/api/-/compare/main...feature/notes) to address this issue"}

// common adds what any parent may get: a title change, a description
// change, a cross-reference (sometimes hidden), wording the parser does
// not know, comments, and a user who has left.
func (n *noteGen) common(title string, author int64) {
	t := n.t
	if t.pct(20) {
		if i := strings.LastIndexByte(title, ' '); i > 0 && t.pct(50) {
			n.add(n.at(2), author, "title", "changed title from **"+title[:i]+"** to **"+title[:i]+"{+"+title[i:]+"+}**").New = title
		} else {
			n.add(n.at(2), author, "title", "changed title from **"+title+"[- (copy)-]** to **"+title+"**").New = title
		}
	}
	if t.pct(15) {
		n.add(n.at(3), author, "description", "changed the description")
	}
	if t.pct(15) {
		var body string
		switch t.intN(3) {
		case 0:
			body = "mentioned in merge request !" + strconv.Itoa(1+t.intN(15))
		case 1:
			body = "mentioned in commit " + t.sha()[:8]
		default:
			body = "mentioned in issue acme/api#" + strconv.Itoa(1+t.intN(30))
		}
		n.add(n.at(4), RootID, "cross_reference", body).Hidden = t.pct(30)
	}
	if t.pct(4) {
		k := t.intN(len(unknownBodies))
		n.add(n.at(5), author, unknownActions[k], unknownBodies[k])
	}
	if t.pct(2) {
		n.add(n.at(5), RootID, "assignee", "assigned to @"+UnknownUsername).Targets = []int64{0}
		n.add(n.at(6), RootID, "assignee", "unassigned @"+UnknownUsername).Targets = []int64{0}
	}
	for range t.intN(3) {
		n.add(n.at(1+t.intN(7)), author, "", commentBodies[t.intN(len(commentBodies))])
	}
}

var workItemStatuses = []string{"To do", "In progress", "In review", "Done"}

// issueNotes: the assignment at creation, the due date, work-item status
// and a related issue, then common.
func (n *noteGen) issueNotes(is *Issue) {
	t := n.t
	if len(is.AssigneeIDs) > 0 {
		n.add(n.at(0), is.AuthorID, "assignee", "assigned to "+n.mentions(is.AssigneeIDs)).Targets = is.AssigneeIDs
	}
	if is.DueDate != nil {
		n.add(n.at(1), is.AuthorID, "due_date", "changed due date to "+is.DueDate.Format("January 2, 2006")).New = is.DueDate.Format(time.DateOnly)
	}
	if t.pct(15) {
		for k := range 1 + t.intN(len(workItemStatuses)) {
			n.add(n.at(2+2*k), is.AuthorID, "work_item_status", "set status to **"+workItemStatuses[k]+"**").New = workItemStatuses[k]
		}
	}
	if t.pct(10) && is.IID > 1 {
		n.add(n.at(3), is.AuthorID, "relate", "marked this issue as related to #"+strconv.FormatInt(1+int64(t.intN(int(is.IID-1))), 10))
	}
	n.common(is.Title, is.AuthorID)
}

// mrNotes: the assignment and review requests at creation, draft and
// ready, an approval, then common.
func (n *noteGen) mrNotes(mr *MergeRequest) {
	t := n.t
	if len(mr.AssigneeIDs) > 0 {
		n.add(n.at(0), mr.AuthorID, "assignee", "assigned to "+n.mentions(mr.AssigneeIDs)).Targets = mr.AssigneeIDs
	}
	if len(mr.ReviewerIDs) > 0 {
		n.add(n.at(1), mr.AuthorID, "reviewer", "requested review from "+n.mentions(mr.ReviewerIDs)).Targets = mr.ReviewerIDs
	}
	switch {
	case mr.Draft:
		n.add(n.at(0), mr.AuthorID, "title", "marked this merge request as **draft**").New = "draft"
	case t.pct(25):
		n.add(n.at(0), mr.AuthorID, "title", "marked this merge request as **draft**").New = "draft"
		n.add(n.at(5), mr.AuthorID, "title", "marked this merge request as **ready**").New = "ready"
	}
	if mr.State == "merged" && len(mr.ReviewerIDs) > 0 && t.pct(60) {
		n.add(n.at(6), mr.ReviewerIDs[0], "approved", "approved this merge request")
	}
	n.common(mr.Title, mr.AuthorID)
}

// epicNotes: a parent epic, then common.
func (n *noteGen) epicNotes(ep *Epic) {
	if n.t.pct(20) && ep.IID > 1 {
		n.add(n.at(2), ep.AuthorID, "relate_to_parent", "added &"+strconv.FormatInt(ep.IID-1, 10)+" as parent epic")
	}
	n.common(ep.Title, ep.AuthorID)
}

// parentNotes draws the notes of the parents from index from[typ] on.
func (g *gen) parentNotes(from [3]int) []ParentNote {
	d := g.d
	names := make(map[int64]string, len(d.Users))
	for _, u := range d.Users {
		names[u.ID] = u.Username
	}
	ng := &noteGen{g: g, names: names}
	start := func(purpose uint64, id int64, pn ParentNote, created, updated time.Time) {
		ng.t = g.traits(purposeNotes, int64(purpose)<<40^id)
		ng.pn, ng.lo, ng.span = pn, created, max(updated.Sub(created), 0)
	}
	for i := from[0]; i < len(d.Issues); i++ {
		is := &d.Issues[i]
		start(1, is.ID, ParentNote{ParentType: "Issue", ParentID: is.ID, ParentIID: is.IID, ProjectID: is.ProjectID}, is.CreatedAt, is.UpdatedAt)
		ng.issueNotes(is)
	}
	for i := from[1]; i < len(d.MergeRequests); i++ {
		mr := &d.MergeRequests[i]
		start(2, mr.ID, ParentNote{ParentType: "MergeRequest", ParentID: mr.ID, ParentIID: mr.IID, ProjectID: mr.ProjectID}, mr.CreatedAt, mr.UpdatedAt)
		ng.mrNotes(mr)
	}
	for i := from[2]; i < len(d.Epics); i++ {
		ep := &d.Epics[i]
		start(3, ep.ID, ParentNote{ParentType: "Epic", ParentID: ep.ID, ParentIID: ep.IID, GroupID: ep.GroupID}, ep.CreatedAt, ep.UpdatedAt)
		ng.epicNotes(ep)
	}
	return ng.out
}

// commitNotes numbers new notes in creation order, after the ids of the
// notes before, and appends them in id order.
func (d *Data) commitNotes(notes []ParentNote) {
	next := firstNoteID
	if n := len(d.Notes); n > 0 {
		next = d.Notes[n-1].ID + 1
	}
	for _, i := range orderByTime(len(notes), func(i int) time.Time { return notes[i].CreatedAt }) {
		notes[i].ID = next
		next++
	}
	slices.SortFunc(notes, func(a, b ParentNote) int { return cmpInt(a.ID, b.ID) })
	d.Notes = append(d.Notes, notes...)
}
