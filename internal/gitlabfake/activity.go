package gitlabfake

import (
	"slices"
	"strconv"
	"time"
)

// AddActivity simulates time passing on the instance, for incremental-run
// tests. It moves Now forward (to 18:00 UTC two days after the newest
// activity) and adds, deterministically from seed:
//   - Events API rows in every project, some later on the same UTC day as
//     the previous newest event and the rest on the following days;
//   - resource events on about 10% of the existing issues, MRs and epics
//     (at least one of each), bumping their updated_at — except that an
//     event within 5 s of the parent's previous one does not (the rapid-edit
//     quirk; one issue always gets such a pair);
//   - one new issue and one new merge request per project, with their
//     "opened" events and a few resource events.
//
// All new ids continue their sequences and all new rows are created after
// the previous Now, so ids keep growing with time.
func (s *Server) AddActivity(seed int64) ActivitySummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	g := newGen(newRand(seed, s.seed+0x5a5a), s.sc, d)
	g.buildLookups()
	g.buildParentLookups()

	oldNow := d.Now
	var newest time.Time
	for i := range d.Events {
		if d.Events[i].CreatedAt.After(newest) {
			newest = d.Events[i].CreatedAt
		}
	}
	if newest.IsZero() {
		newest = oldNow
	}
	lo := oldNow
	if newest.After(lo) {
		lo = newest
	}
	dayStart := date(newest)
	dayEnd := dayStart.Add(24*time.Hour - time.Millisecond)
	newNow := date(lo).Add(48*time.Hour + 18*time.Hour)
	g.start, g.now = oldNow, newNow

	var oldLen [numFams]int
	for f := range numFams {
		oldLen[f] = len(*d.fam(f))
	}
	sum := ActivitySummary{Now: newNow}

	// New issues and merge requests, one of each per project.
	var newIssues []Issue
	var newMRs []MergeRequest
	for _, p := range d.Projects {
		var maxIssue, maxMR int64
		for _, i := range s.idx.projIssues[p.ID] {
			maxIssue = max(maxIssue, d.Issues[i].IID)
		}
		for _, i := range s.idx.projMRs[p.ID] {
			maxMR = max(maxMR, d.MergeRequests[i].IID)
		}
		t := g.between(oldNow.Add(time.Second), newNow.Add(-time.Hour))
		newIssues = append(newIssues, Issue{IID: maxIssue + 1, ProjectID: p.ID, AuthorID: g.pickAuthor(), Title: g.title(),
			State: "opened", CreatedAt: t, UpdatedAt: t})
		t = g.between(oldNow.Add(time.Second), newNow.Add(-time.Hour))
		newMRs = append(newMRs, MergeRequest{IID: maxMR + 1, ProjectID: p.ID, AuthorID: g.pickAuthor(), Title: g.title(),
			State: "opened", SourceBranch: "feature/new-" + strconv.FormatInt(maxMR+1, 10), CreatedAt: t, UpdatedAt: t})
	}
	slices.SortStableFunc(newIssues, func(a, b Issue) int { return a.CreatedAt.Compare(b.CreatedAt) })
	slices.SortStableFunc(newMRs, func(a, b MergeRequest) int { return a.CreatedAt.Compare(b.CreatedAt) })
	nextIssue, nextMR := int64(firstIssueID), int64(firstMRID)
	for _, is := range d.Issues {
		nextIssue = max(nextIssue, is.ID+1)
	}
	for _, mr := range d.MergeRequests {
		nextMR = max(nextMR, mr.ID+1)
	}
	firstNewIssue, firstNewMR := len(d.Issues), len(d.MergeRequests)
	for i := range newIssues {
		newIssues[i].ID = nextIssue + int64(i)
		is := newIssues[i]
		g.noteables[is.ProjectID] = append(g.noteables[is.ProjectID], noteRef{is.CreatedAt, "Issue", is.ID, is.IID, is.Title})
	}
	for i := range newMRs {
		newMRs[i].ID = nextMR + int64(i)
		mr := newMRs[i]
		ref := noteRef{mr.CreatedAt, "MergeRequest", mr.ID, mr.IID, mr.Title}
		g.noteables[mr.ProjectID] = append(g.noteables[mr.ProjectID], ref)
		g.mrsOf[mr.ProjectID] = append(g.mrsOf[mr.ProjectID], ref)
	}
	for _, m := range []map[int64][]noteRef{g.noteables, g.mrsOf} {
		for _, refs := range m {
			slices.SortStableFunc(refs, func(a, b noteRef) int { return a.t.Compare(b.t) })
		}
	}
	d.Issues = append(d.Issues, newIssues...)
	d.MergeRequests = append(d.MergeRequests, newMRs...)

	// Existing parents touched by new resource events.
	type touch struct {
		k  pkey
		i  int
		ps *pstate
	}
	var touched []touch
	pickSome := func(n int) []int {
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
	issuesPicked := pickSome(firstNewIssue)
	rapidIssue := -1
	if len(issuesPicked) > 0 {
		rapidIssue = issuesPicked[g.r.IntN(len(issuesPicked))]
	}
	for _, i := range issuesPicked {
		ps := s.parentState(g, ptIssue, i)
		if i == rapidIssue {
			t := g.between(oldNow.Add(time.Second), newNow.Add(-time.Minute))
			g.forceLabel(ps, t)
			g.forceLabel(ps, t.Add(2*time.Second))
		} else {
			g.runParent(ps, oldNow, 1+g.r.IntN(3), false)
		}
		touched = append(touched, touch{pkey{ptIssue, ps.id}, i, ps})
	}
	for _, i := range pickSome(firstNewMR) {
		ps := s.parentState(g, ptMR, i)
		g.runParent(ps, oldNow, 1+g.r.IntN(3), false)
		touched = append(touched, touch{pkey{ptMR, ps.id}, i, ps})
	}
	for _, i := range pickSome(len(d.Epics)) {
		ps := s.parentState(g, ptEpic, i)
		g.runParent(ps, oldNow, 1+g.r.IntN(3), false)
		touched = append(touched, touch{pkey{ptEpic, ps.id}, i, ps})
	}
	sum.TouchedParents = len(touched)
	for j := firstNewIssue; j < len(d.Issues); j++ {
		is := &d.Issues[j]
		ps := &pstate{typ: "Issue", id: is.ID, iid: is.IID, projectID: is.ProjectID, title: is.Title, premium: g.premiumProj[is.ProjectID], state: "opened"}
		g.anchorOpened(is.ProjectID, "Issue", is.ID, is.IID, is.AuthorID, is.Title, is.CreatedAt)
		g.runParent(ps, is.CreatedAt, g.r.IntN(3), false)
		touched = append(touched, touch{pkey{ptIssue, is.ID}, j, ps})
	}
	for j := firstNewMR; j < len(d.MergeRequests); j++ {
		mr := &d.MergeRequests[j]
		ps := &pstate{typ: "MergeRequest", id: mr.ID, iid: mr.IID, projectID: mr.ProjectID, title: mr.Title, state: "opened"}
		g.anchorOpened(mr.ProjectID, "MergeRequest", mr.ID, mr.IID, mr.AuthorID, mr.Title, mr.CreatedAt)
		g.runParent(ps, mr.CreatedAt, g.r.IntN(3), false)
		touched = append(touched, touch{pkey{ptMR, mr.ID}, j, ps})
	}
	// Write the parents' new states back.
	for _, t := range touched {
		switch t.k.typ {
		case ptIssue:
			d.Issues[t.i].State, d.Issues[t.i].ClosedAt = t.ps.state, t.ps.closedAt
		case ptMR:
			d.MergeRequests[t.i].State, d.MergeRequests[t.i].ClosedAt, d.MergeRequests[t.i].MergedAt = t.ps.state, t.ps.closedAt, t.ps.mergedAt
		case ptEpic:
			d.Epics[t.i].State, d.Epics[t.i].ClosedAt = t.ps.state, t.ps.closedAt
		}
	}
	g.flushResources()

	// New Events API rows.
	var evs []Event
	for _, p := range d.Projects {
		budget := s.sc.EventsPerProject
		if p.Big {
			budget = s.sc.BigProjectEvents
		}
		n := max(6, budget/40)
		evs = append(evs, g.anchors[p.ID]...)
		sameDay := 0
		if dayEnd.Sub(lo) > time.Second {
			sameDay = max(2, n*3/10)
		}
		later := lo
		if dayEnd.After(later) {
			later = dayEnd
		}
		for j := range n {
			var t time.Time
			if j < sameDay {
				t = g.between(lo.Add(time.Millisecond), dayEnd.Add(time.Millisecond))
			} else {
				t = g.between(later.Add(time.Millisecond), newNow)
			}
			evs = append(evs, g.fillEvent(p.ID, t))
		}
	}
	firstNewEvent := len(d.Events)
	g.commitEvents(evs, false)
	sum.Events = len(evs)
	for _, e := range d.Events[firstNewEvent:] {
		if date(e.CreatedAt).Equal(dayStart) {
			sum.SameDayEvents++
		}
	}

	// updated_at: new resource events bump their parent unless rapid; new notes always do.
	marks := map[pkey][]tmark{}
	for f := range numFams {
		added := (*d.fam(f))[oldLen[f]:]
		switch f {
		case famLabel:
			sum.LabelEvents = len(added)
		case famState:
			sum.StateEvents = len(added)
		case famMilestone:
			sum.MilestoneEvents = len(added)
		case famIteration:
			sum.IterationEvents = len(added)
		case famWeight:
			sum.WeightEvents = len(added)
		}
		for _, e := range added {
			k := pkey{typOf(e.ParentType), e.ParentID}
			marks[k] = append(marks[k], tmark{e.CreatedAt, f == famState})
		}
	}
	notes := map[pkey]time.Time{}
	for _, e := range d.Events[firstNewEvent:] {
		if n := e.Note; n != nil {
			k := pkey{typOf(n.NoteableType), n.NoteableID}
			if n.CreatedAt.After(notes[k]) {
				notes[k] = n.CreatedAt
			}
		}
	}
	bump := func(k pkey, upd *time.Time) {
		m := marks[k]
		slices.SortStableFunc(m, func(a, b tmark) int { return a.t.Compare(b.t) })
		u, rapid := bumpTime(*upd, s.lastResourceTime(k), m)
		sum.RapidEdits += rapid
		if nt := notes[k]; nt.After(u) {
			u = nt
		}
		*upd = u
	}
	for i := range d.Issues {
		k := pkey{ptIssue, d.Issues[i].ID}
		if _, ok := marks[k]; ok || !notes[k].IsZero() {
			bump(k, &d.Issues[i].UpdatedAt)
		}
	}
	for i := range d.MergeRequests {
		k := pkey{ptMR, d.MergeRequests[i].ID}
		if _, ok := marks[k]; ok || !notes[k].IsZero() {
			bump(k, &d.MergeRequests[i].UpdatedAt)
		}
	}
	for i := range d.Epics {
		k := pkey{ptEpic, d.Epics[i].ID}
		if _, ok := marks[k]; ok {
			bump(k, &d.Epics[i].UpdatedAt)
		}
	}
	sum.Issues, sum.MergeRequests = len(newIssues), len(newMRs)

	d.Now = newNow
	s.idx = buildIndex(d)
	s.cacheMu.Lock()
	clear(s.cache)
	s.cacheMu.Unlock()
	return sum
}

// forceLabel adds a label event at t (used for the rapid-edit pair).
func (g *gen) forceLabel(ps *pstate, t time.Time) {
	g.addEvent(ps, famLabel, t)
}

// lastResourceTime is the newest resource event time of a parent in the
// current index (the state before AddActivity rebuilds it).
func (s *Server) lastResourceTime(k pkey) time.Time {
	var t time.Time
	for f := range numFams {
		if rows := s.idx.res[f][k]; len(rows) > 0 {
			if c := (*s.d.fam(f))[rows[len(rows)-1]].CreatedAt; c.After(t) {
				t = c
			}
		}
	}
	return t
}

// parentState rebuilds an existing parent's generation state from its events.
func (s *Server) parentState(g *gen, typ ptype, i int) *pstate {
	d := s.d
	var ps *pstate
	switch typ {
	case ptIssue:
		is := &d.Issues[i]
		ps = &pstate{typ: "Issue", id: is.ID, iid: is.IID, projectID: is.ProjectID, title: is.Title, premium: g.premiumProj[is.ProjectID],
			state: is.State, closedAt: is.ClosedAt}
	case ptMR:
		mr := &d.MergeRequests[i]
		ps = &pstate{typ: "MergeRequest", id: mr.ID, iid: mr.IID, projectID: mr.ProjectID, title: mr.Title, state: mr.State,
			closedAt: mr.ClosedAt, mergedAt: mr.MergedAt}
	default:
		ep := &d.Epics[i]
		ps = &pstate{typ: "Epic", id: ep.ID, iid: ep.IID, groupID: ep.GroupID, title: ep.Title, state: ep.State, closedAt: ep.ClosedAt}
	}
	k := pkey{typ, ps.id}
	for _, j := range s.idx.res[famLabel][k] {
		e := &d.LabelEvents[j]
		if e.LabelID == 0 {
			continue
		}
		at := slices.Index(ps.labels, e.LabelID)
		switch {
		case e.Action == "add" && at < 0:
			ps.labels = append(ps.labels, e.LabelID)
		case e.Action == "remove" && at >= 0:
			ps.labels = slices.Delete(ps.labels, at, at+1)
		}
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
	return ps
}
