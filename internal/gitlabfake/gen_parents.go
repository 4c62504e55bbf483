package gitlabfake

import (
	"slices"
	"sort"
	"strconv"
	"time"
)

const (
	firstIssueID = 1001 // issues and merge requests are separate tables: their ids overlap
	firstMRID    = 1001
	firstEpicID  = 501
	// Work items share the issues' id sequence; the fake's epics map onto
	// ids far past any generated issue.
	firstWorkItemID = 900_001
)

// genParents creates the issues and merge requests of every project and
// the epics of every Premium group, all still open, numbered by creation.
func (g *gen) genParents() {
	d := g.d
	hi := g.now.Add(-2 * time.Hour)
	for _, p := range d.Projects {
		for i, t := range g.sortedTimes(g.sc.IssuesPerProject, g.first, hi) {
			d.Issues = append(d.Issues, Issue{IID: int64(i + 1), ProjectID: p.ID, AuthorID: g.pickAuthor(), Title: g.title(), State: "opened", CreatedAt: t})
		}
		for i, t := range g.sortedTimes(g.sc.MRsPerProject, g.first, hi) {
			d.MergeRequests = append(d.MergeRequests, MergeRequest{IID: int64(i + 1), ProjectID: p.ID, AuthorID: g.pickAuthor(), Title: g.title(),
				State: "opened", SourceBranch: "feature/" + strconv.Itoa(i+1), CreatedAt: t})
		}
	}
	for _, gr := range d.Groups {
		if !gr.Premium {
			continue
		}
		for i, t := range g.sortedTimes(g.sc.EpicsPerGroup, g.first, hi) {
			d.Epics = append(d.Epics, Epic{IID: int64(i + 1), GroupID: gr.ID, AuthorID: g.pickAuthor(), Title: "Epic: " + g.title(), State: "opened", CreatedAt: t})
		}
	}
	// Global ids follow creation order across projects (one table each).
	numberByCreation(d.Issues, firstIssueID, issueStamps)
	numberByCreation(d.MergeRequests, firstMRID, mrStamps)
	numberByCreation(d.Epics, firstEpicID, epicStamps)
	g.parentTraits(d.Issues, d.MergeRequests)
	for i := range d.Epics {
		d.Epics[i].WorkItemID = firstWorkItemID + d.Epics[i].ID - firstEpicID
	}
}

// parentTraits draws the traits of newly numbered issues and merge requests.
func (g *gen) parentTraits(issues []Issue, mrs []MergeRequest) {
	for i := range issues {
		g.issueTraits(&issues[i])
	}
	for i := range mrs {
		g.mrTraits(&mrs[i])
	}
}

// stamps are the id and times of an issue, merge request or epic.
type stamps struct {
	id               *int64
	created, updated *time.Time
}

func issueStamps(is *Issue) stamps     { return stamps{&is.ID, &is.CreatedAt, &is.UpdatedAt} }
func mrStamps(mr *MergeRequest) stamps { return stamps{&mr.ID, &mr.CreatedAt, &mr.UpdatedAt} }
func epicStamps(ep *Epic) stamps       { return stamps{&ep.ID, &ep.CreatedAt, &ep.UpdatedAt} }
func createdOf[T any](st func(*T) stamps) func(a, b T) int {
	return func(a, b T) int { return st(&a).created.Compare(*st(&b).created) }
}

// numberByCreation sorts rows by creation (ties keep their order) and
// numbers them from first on; updated_at starts at created_at.
func numberByCreation[T any](rows []T, first int64, st func(*T) stamps) {
	slices.SortStableFunc(rows, createdOf(st))
	for i := range rows {
		s := st(&rows[i])
		*s.id, *s.updated = first+int64(i), *s.created
	}
}

// nextID is the id after the highest of rows, and at least first.
func nextID[T any](rows []T, first int64, st func(*T) stamps) int64 {
	for i := range rows {
		first = max(first, *st(&rows[i]).id+1)
	}
	return first
}

// noteRef is an issue or merge request as a comment or a closing MR names it.
type noteRef struct {
	t     time.Time
	typ   string
	id    int64
	iid   int64
	title string
}

// parentRefs index the issues and merge requests of each project in
// created order, for comments and closing MRs.
type parentRefs struct {
	noteables   map[int64][]noteRef // issues and MRs
	mrsOf       map[int64][]noteRef // MRs only
	busyIssueID int64
}

func newParentRefs(d *Data) *parentRefs {
	x := &parentRefs{noteables: map[int64][]noteRef{}, mrsOf: map[int64][]noteRef{}}
	x.add(d.Issues, d.MergeRequests)
	for _, is := range d.Issues {
		if is.ProjectID == APIProjectID && is.IID == BusyIssueIID {
			x.busyIssueID = is.ID
		}
	}
	return x
}

// add indexes more issues and merge requests.
func (x *parentRefs) add(issues []Issue, mrs []MergeRequest) {
	for _, is := range issues {
		x.noteables[is.ProjectID] = append(x.noteables[is.ProjectID], noteRef{is.CreatedAt, "Issue", is.ID, is.IID, is.Title})
	}
	for _, mr := range mrs {
		ref := noteRef{mr.CreatedAt, "MergeRequest", mr.ID, mr.IID, mr.Title}
		x.noteables[mr.ProjectID] = append(x.noteables[mr.ProjectID], ref)
		x.mrsOf[mr.ProjectID] = append(x.mrsOf[mr.ProjectID], ref)
	}
	for _, m := range []map[int64][]noteRef{x.noteables, x.mrsOf} {
		for _, refs := range m {
			slices.SortStableFunc(refs, func(a, b noteRef) int { return a.t.Compare(b.t) })
		}
	}
}

// createdBefore is how many of refs (in created order) were created before t.
func createdBefore(refs []noteRef, t time.Time) int {
	return sort.Search(len(refs), func(i int) bool { return !refs[i].t.Before(t) })
}
