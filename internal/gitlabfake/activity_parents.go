package gitlabfake

import (
	"strconv"
	"time"
)

// addParents creates one issue and one merge request per project, created
// between the old Now and an hour before the new one.
func (a *activity) addParents() {
	d, g, idx := a.d, a.g, a.s.idx
	lo, hi := a.oldNow.Add(time.Second), a.newNow.Add(-time.Hour)
	var issues []Issue
	var mrs []MergeRequest
	for _, p := range d.Projects {
		iid := 1 + maxIID(idx.projIssues[p.ID], func(i int32) int64 { return d.Issues[i].IID })
		t := g.between(lo, hi)
		issues = append(issues, Issue{IID: iid, ProjectID: p.ID, AuthorID: g.pickAuthor(), Title: g.title(),
			State: "opened", CreatedAt: t, UpdatedAt: t})
		iid = 1 + maxIID(idx.projMRs[p.ID], func(i int32) int64 { return d.MergeRequests[i].IID })
		t = g.between(lo, hi)
		mrs = append(mrs, MergeRequest{IID: iid, ProjectID: p.ID, AuthorID: g.pickAuthor(), Title: g.title(),
			State: "opened", SourceBranch: "feature/new-" + strconv.FormatInt(iid, 10), CreatedAt: t, UpdatedAt: t})
	}
	numberByCreation(issues, nextID(d.Issues, firstIssueID, issueStamps), issueStamps)
	numberByCreation(mrs, nextID(d.MergeRequests, firstMRID, mrStamps), mrStamps)
	g.parentTraits(issues, mrs)
	g.refs.add(issues, mrs)
	a.firstNewIssue, a.firstNewMR = len(d.Issues), len(d.MergeRequests)
	d.Issues = append(d.Issues, issues...)
	d.MergeRequests = append(d.MergeRequests, mrs...)
	a.sum.Issues, a.sum.MergeRequests = len(issues), len(mrs)
}

// maxIID is the highest IID of rows (0 for none).
func maxIID(rows []int32, iid func(int32) int64) int64 {
	var m int64
	for _, i := range rows {
		m = max(m, iid(i))
	}
	return m
}

// touchParents gives about 10% of the existing issues, MRs and epics (at
// least one of each) new resource events; one issue gets a rapid pair.
func (a *activity) touchParents() {
	a.sum.TouchedParents += a.touch(ptIssue, a.firstNewIssue, true)
	a.sum.TouchedParents += a.touch(ptMR, a.firstNewMR, false)
	a.sum.TouchedParents += a.touch(ptEpic, len(a.d.Epics), false)
}

// touch picks some of the first n parents of type typ and adds resource
// events to them (two label events 2 s apart to one of them, with rapid).
func (a *activity) touch(typ ptype, n int, rapid bool) int {
	g := a.g
	picked := g.pickSome(n)
	rapidAt := -1
	if rapid && len(picked) > 0 {
		rapidAt = picked[g.r.IntN(len(picked))]
	}
	for _, i := range picked {
		ps, save := g.parentState(typ, i)
		a.s.replayResources(ps, pkey{typ, ps.id})
		if i == rapidAt {
			t := g.between(a.oldNow.Add(time.Second), a.newNow.Add(-time.Minute))
			g.addEvent(ps, famLabel, t)
			g.addEvent(ps, famLabel, t.Add(2*time.Second))
		} else {
			g.runParent(ps, a.oldNow, 1+g.r.IntN(3), false)
		}
		save()
	}
	return len(picked)
}

// pickSome picks about one in ten of n indexes, and at least one.
func (g *gen) pickSome(n int) []int {
	if n == 0 {
		return nil
	}
	forced := g.r.IntN(n)
	var out []int
	for i := range n {
		if i == forced || g.r.IntN(10) == 0 {
			out = append(out, i)
		}
	}
	return out
}

// openNewParents gives the new issues and merge requests their "opened"
// events and a few resource events.
func (a *activity) openNewParents() {
	for _, np := range []struct {
		typ   ptype
		first int
	}{{ptIssue, a.firstNewIssue}, {ptMR, a.firstNewMR}} {
		for i := np.first; i < a.d.parents(np.typ); i++ {
			ps, save := a.g.parentState(np.typ, i)
			a.g.anchorOpened(ps)
			a.g.runParent(ps, ps.created, a.g.r.IntN(3), false)
			save()
		}
	}
}

// replayResources brings an existing parent's generation state up to date
// with its resource events: its labels, milestone and iteration.
func (s *Server) replayResources(ps *pstate, k pkey) {
	d := s.d
	for _, j := range s.idx.res[famLabel][k] {
		ps.labels = applyLabel(ps.labels, &d.LabelEvents[j])
	}
	if rows := s.idx.res[famMilestone][k]; len(rows) > 0 {
		if e := &d.MilestoneEvents[rows[len(rows)-1]]; e.Action == "add" {
			ps.milestone = e.MilestoneID
		}
	}
	if rows := s.idx.res[famIteration][k]; len(rows) > 0 {
		if e := &d.IterationEvents[rows[len(rows)-1]]; e.Action == "add" {
			ps.iteration = e.IterationID
		}
	}
}
