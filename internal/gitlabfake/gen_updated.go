package gitlabfake

import (
	"slices"
	"time"
)

type ptype uint8

const (
	ptIssue ptype = iota + 1
	ptMR
	ptEpic
)

type pkey struct {
	typ ptype
	id  int64
}

func typOf(s string) ptype {
	switch s {
	case "Issue":
		return ptIssue
	case "MergeRequest":
		return ptMR
	case "Epic":
		return ptEpic
	}
	return 0
}

// rapidWindow: a resource event this close to the parent's previous one
// does not bump the parent's updated_at (the rapid-edit quirk). State
// changes always do.
const rapidWindow = 5 * time.Second

// tmark is the time of a resource event, and whether it changed the state.
type tmark struct {
	t     time.Time
	state bool
}

// bumpTime returns the parent's updated_at given its resource events in time order.
func bumpTime(upd time.Time, prev time.Time, marks []tmark) (time.Time, int) {
	rapid := 0
	for _, m := range marks {
		if prev.IsZero() || m.state || m.t.Sub(prev) >= rapidWindow {
			if m.t.After(upd) {
				upd = m.t
			}
		} else {
			rapid++
		}
		prev = m.t
	}
	return upd, rapid
}

// resourceMarks collects, by parent, the resource events of each family
// from row from[f] on.
func resourceMarks(d *Data, from [numFams]int) map[pkey][]tmark {
	marks := map[pkey][]tmark{}
	for f := range numFams {
		for _, e := range (*d.fam(f))[from[f]:] {
			k := pkey{typOf(e.ParentType), e.ParentID}
			marks[k] = append(marks[k], tmark{e.CreatedAt, f == famState})
		}
	}
	return marks
}

// noteTimes is the newest note of evs on each parent.
func noteTimes(evs []Event) map[pkey]time.Time {
	notes := map[pkey]time.Time{}
	for i := range evs {
		if n := evs[i].Note; n != nil {
			k := pkey{typOf(n.NoteableType), n.NoteableID}
			if n.CreatedAt.After(notes[k]) {
				notes[k] = n.CreatedAt
			}
		}
	}
	return notes
}

// bumpUpdated moves each parent's updated_at to its newest mark (a
// resource event, unless a rapid edit after the one before; prev gives the
// parent's newest event before the marks) or its newest note, if later.
// It returns how many marks were rapid edits.
func bumpUpdated(d *Data, marks map[pkey][]tmark, notes map[pkey]time.Time, prev func(pkey) time.Time) int {
	rapid := 0
	bump := func(k pkey, upd *time.Time) {
		m := marks[k]
		slices.SortStableFunc(m, func(a, b tmark) int { return a.t.Compare(b.t) })
		u, r := bumpTime(*upd, prev(k), m)
		rapid += r
		if nt := notes[k]; nt.After(u) {
			u = nt
		}
		*upd = u
	}
	for i := range d.Issues {
		bump(pkey{ptIssue, d.Issues[i].ID}, &d.Issues[i].UpdatedAt)
	}
	for i := range d.MergeRequests {
		bump(pkey{ptMR, d.MergeRequests[i].ID}, &d.MergeRequests[i].UpdatedAt)
	}
	for i := range d.Epics {
		bump(pkey{ptEpic, d.Epics[i].ID}, &d.Epics[i].UpdatedAt)
	}
	return rapid
}
