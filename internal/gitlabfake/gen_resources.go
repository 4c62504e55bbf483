package gitlabfake

import "time"

// pstate is the mutable state of a parent (issue, merge request or epic)
// while its resource events are generated.
type pstate struct {
	typ       string
	id, iid   int64
	projectID int64
	groupID   int64
	title     string
	author    int64
	created   time.Time
	premium   bool
	state     string
	labels    []int64
	milestone int64
	iteration int64
	closedAt  *time.Time
	mergedAt  *time.Time
	mergedBy  int64 // the user of the merged state event (0: null)
}

// parentState returns parent i of type typ (its index in d's slice) as
// generation state, and a function writing the state back to d, to be
// called before d's slice of that type grows.
func (g *gen) parentState(typ ptype, i int) (*pstate, func()) {
	d := g.d
	switch typ {
	case ptIssue:
		is := &d.Issues[i]
		ps := &pstate{typ: "Issue", id: is.ID, iid: is.IID, projectID: is.ProjectID, title: is.Title, author: is.AuthorID,
			created: is.CreatedAt, premium: g.look.premiumProj[is.ProjectID], state: is.State, closedAt: is.ClosedAt}
		return ps, func() { is.State, is.ClosedAt = ps.state, ps.closedAt }
	case ptMR:
		mr := &d.MergeRequests[i]
		ps := &pstate{typ: "MergeRequest", id: mr.ID, iid: mr.IID, projectID: mr.ProjectID, title: mr.Title, author: mr.AuthorID,
			created: mr.CreatedAt, state: mr.State, closedAt: mr.ClosedAt, mergedAt: mr.MergedAt, mergedBy: mr.MergedByID}
		return ps, func() {
			mr.State, mr.ClosedAt, mr.MergedAt = ps.state, ps.closedAt, ps.mergedAt
			g.settleMR(mr, ps.mergedBy)
		}
	}
	ep := &d.Epics[i]
	ps := &pstate{typ: "Epic", id: ep.ID, iid: ep.IID, groupID: ep.GroupID, title: ep.Title, author: ep.AuthorID,
		created: ep.CreatedAt, state: ep.State, closedAt: ep.ClosedAt}
	return ps, func() { ep.State, ep.ClosedAt = ps.state, ps.closedAt }
}

// parents is how many parents of type typ d holds.
func (d *Data) parents(typ ptype) int {
	switch typ {
	case ptIssue:
		return len(d.Issues)
	case ptMR:
		return len(d.MergeRequests)
	}
	return len(d.Epics)
}

// genInitialResourceEvents gives every parent its history: an "opened"
// Events API row and a run of resource events (the busy issue a long run
// of label events).
func (g *gen) genInitialResourceEvents() {
	for _, typ := range []ptype{ptIssue, ptMR, ptEpic} {
		for i := range g.d.parents(typ) {
			ps, save := g.parentState(typ, i)
			g.anchorOpened(ps)
			k, busy := 50, typ == ptIssue && ps.id == g.refs.busyIssueID
			if !busy {
				k = g.eventCount()
			}
			g.runParent(ps, ps.created, k, busy)
			save()
		}
	}
}

// runParent adds k resource events to ps after created (label events only
// with forceLabel).
func (g *gen) runParent(ps *pstate, created time.Time, k int, forceLabel bool) {
	for _, t := range g.timeline(created, g.now, k) {
		fam := famLabel
		if !forceLabel {
			fam = g.pickFam(ps)
		}
		g.addEvent(ps, fam, t)
	}
}

// timeline returns k sorted times in (lo, hi), with some rapid edits and
// some simultaneous ones (two labels added in one action).
func (g *gen) timeline(lo, hi time.Time, k int) []time.Time {
	lo = lo.Add(time.Second)
	if k <= 0 || !hi.After(lo) {
		return nil
	}
	ts := g.sortedTimes(k, lo, hi)
	for i := 1; i < k; i++ {
		x := g.r.IntN(100)
		if x < 7 {
			ts[i] = ts[i-1]
		} else if x < 15 {
			c := ts[i-1].Add(time.Duration(500+g.r.IntN(4000)) * time.Millisecond)
			if c.Before(ts[i]) {
				ts[i] = c
			}
		}
	}
	return ts
}

func (g *gen) eventCount() int {
	a := g.sc.ResourceEventsPerParent
	if a <= 0 {
		return 0
	}
	return g.r.IntN(2*a + 1)
}

// addEvent generates one resource event of family fam (falling back to a
// label event when fam does not apply) and records it.
func (g *gen) addEvent(ps *pstate, fam int, t time.Time) (int, bool) {
	ev, ok := g.resEvent(ps, fam, t)
	if !ok {
		fam = famLabel
		ev, ok = g.resEvent(ps, fam, t)
		if !ok {
			return 0, false
		}
	}
	g.fams[fam] = append(g.fams[fam], ev)
	return fam, true
}

// anchorOpened records the Events API row of a new issue or merge request.
func (g *gen) anchorOpened(ps *pstate) {
	if ps.typ == "Epic" {
		return // epic events are not served by the Events API
	}
	g.anchors[ps.projectID] = append(g.anchors[ps.projectID], Event{ProjectID: ps.projectID, AuthorID: ps.author, Action: "created",
		ActionName: "opened", TargetType: ps.typ, TargetID: ps.id, TargetIID: ps.iid, TargetTitle: ps.title, CreatedAt: ps.created})
}

// anchorState records the Events API row a state change produces.
func (g *gen) anchorState(ps *pstate, ev ResourceEvent) {
	if ps.typ == "Epic" {
		return // epic events are not served by the Events API
	}
	author := ev.UserID
	if author == 0 {
		author = GhostID
	}
	e := Event{ProjectID: ps.projectID, AuthorID: author, TargetType: ps.typ, TargetID: ps.id, TargetIID: ps.iid,
		TargetTitle: ps.title, CreatedAt: ev.CreatedAt}
	switch ev.State {
	case "closed":
		e.Action, e.ActionName = "closed", "closed"
	case "reopened":
		e.Action, e.ActionName = "reopened", "opened"
	case "merged":
		e.Action, e.ActionName = "merged", "accepted"
	}
	g.anchors[ps.projectID] = append(g.anchors[ps.projectID], e)
}

// flushResources sorts the generated resource events of each family by
// time, gives them ids continuing the family's sequence and appends them.
func (g *gen) flushResources() {
	for f := range numFams {
		evs := g.fams[f]
		g.fams[f] = nil
		order := orderByTime(len(evs), func(i int) time.Time { return evs[i].CreatedAt })
		dst := g.d.fam(f)
		next := int64(1)
		if n := len(*dst); n > 0 {
			next = (*dst)[n-1].ID + 1
		}
		for _, i := range order {
			e := evs[i]
			e.ID = next
			next++
			*dst = append(*dst, e)
		}
	}
}

// markBusyHidden hides a run of the busy issue's label events, so a page of
// its resource label events comes back short while another page follows.
func (g *gen) markBusyHidden() {
	n := 0
	for i := range g.d.LabelEvents {
		e := &g.d.LabelEvents[i]
		if e.ParentType == "Issue" && e.ParentID == g.refs.busyIssueID {
			if n >= 20 && n < 28 {
				e.Hidden = true
			}
			n++
		}
	}
}
