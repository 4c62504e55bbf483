package gitlabfake

import "time"

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
//     "opened" events and a few resource events;
//   - audit events in every project and group and on the instance.
//   - new assignees or reviewers on about 3% of the existing issues and
//     MRs (one added or one removed), with their system notes, bumping
//     their updated_at;
//   - the new parents' notes, and a due-date or work-item status change
//     (system notes only) on about 2% of the existing issues, bumping
//     their updated_at.
//
// All new ids continue their sequences and all new rows are created after
// the previous Now, so ids keep growing with time; except one audit event,
// created at the instant of the newest one before (see auditGen.addAudit).
func (s *Server) AddActivity(seed int64) ActivitySummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.newActivity(seed)
	a.addParents()
	a.touchParents()
	a.openNewParents()
	a.g.flushResources()
	a.addEvents()
	a.bumpUpdated()
	a.sum.AuditEvents = newAuditGen(newRand(seed, s.seed+0xa0d1), s.d, s.sc).addAudit(a.oldNow, a.newNow)
	var notes []ParentNote
	a.sum.Reassigned, notes = a.reassign()
	a.addNotes(notes)
	s.d.Now = a.newNow
	s.reindex()
	return a.sum
}

// activity is one AddActivity in progress: the phases above run in turn
// on one generator, whose random draws make the result.
type activity struct {
	s *Server
	d *Data
	g *gen

	oldNow, newNow   time.Time
	lo               time.Time // new events come after this: the old Now or the newest event
	dayStart, dayEnd time.Time // the UTC day of the newest event

	oldLen                                   [numFams]int // resource events before
	firstNewIssue, firstNewMR, firstNewEvent int          // indexes of the first new rows
	sum                                      ActivitySummary
}

func (s *Server) newActivity(seed int64) *activity {
	d := s.d
	g := newGen(newRand(seed, s.seed+0x5a5a), s.sc, d)
	g.traitSeed = splitmix64(uint64(seed)) ^ uint64(s.seed)
	g.look = newLookups(d)
	g.refs = newParentRefs(d)
	a := &activity{s: s, d: d, g: g, oldNow: d.Now}
	var newest time.Time
	for i := range d.Events {
		if d.Events[i].CreatedAt.After(newest) {
			newest = d.Events[i].CreatedAt
		}
	}
	if newest.IsZero() {
		newest = a.oldNow
	}
	a.lo = later(a.oldNow, newest)
	a.dayStart = date(newest)
	a.dayEnd = a.dayStart.Add(24*time.Hour - time.Millisecond)
	a.newNow = date(a.lo).Add(48*time.Hour + 18*time.Hour)
	g.start, g.now = a.oldNow, a.newNow
	for f := range numFams {
		a.oldLen[f] = len(*d.fam(f))
	}
	a.sum = ActivitySummary{Now: a.newNow}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// addEvents adds the new Events API rows: the parents' anchors and made-up
// activity, a share of it on the newest event's day.
func (a *activity) addEvents() {
	d, g := a.d, a.g
	var evs []Event
	for _, p := range d.Projects {
		n := max(6, g.sc.eventBudget(p)/40)
		evs = append(evs, g.anchors[p.ID]...)
		sameDay := 0
		if a.dayEnd.Sub(a.lo) > time.Second {
			sameDay = max(2, n*3/10)
		}
		next := later(a.lo, a.dayEnd)
		for j := range n {
			var t time.Time
			if j < sameDay {
				t = g.between(a.lo.Add(time.Millisecond), a.dayEnd.Add(time.Millisecond))
			} else {
				t = g.between(next.Add(time.Millisecond), a.newNow)
			}
			evs = append(evs, g.fillEvent(p.ID, t))
		}
	}
	a.firstNewEvent = len(d.Events)
	g.commitEvents(evs, false)
	a.sum.Events = len(evs)
	for _, e := range d.Events[a.firstNewEvent:] {
		if date(e.CreatedAt).Equal(a.dayStart) {
			a.sum.SameDayEvents++
		}
	}
}

// bumpUpdated moves updated_at: new resource events bump their parent
// unless rapid; new notes always do.
func (a *activity) bumpUpdated() {
	d := a.d
	counts := [numFams]*int{&a.sum.LabelEvents, &a.sum.StateEvents, &a.sum.MilestoneEvents, &a.sum.IterationEvents, &a.sum.WeightEvents}
	for f := range numFams {
		*counts[f] = len(*d.fam(f)) - a.oldLen[f]
	}
	marks := resourceMarks(d, a.oldLen)
	a.sum.RapidEdits = bumpUpdated(d, marks, noteTimes(d.Events[a.firstNewEvent:]), a.s.lastResourceTime)
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
