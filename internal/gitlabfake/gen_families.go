package gitlabfake

import (
	"slices"
	"time"
)

var weights = []int64{1, 2, 3, 5, 8}

// pickFam draws the family of a parent's next resource event.
func (g *gen) pickFam(ps *pstate) int {
	x := g.r.IntN(100)
	switch ps.typ {
	case "Issue":
		if ps.premium {
			switch {
			case x < 45:
				return famLabel
			case x < 65:
				return famState
			case x < 80:
				return famMilestone
			case x < 90:
				return famIteration
			}
			return famWeight
		}
		switch {
		case x < 55:
			return famLabel
		case x < 80:
			return famState
		}
		return famMilestone
	case "MergeRequest":
		switch {
		case x < 50:
			return famLabel
		case x < 75:
			return famState
		}
		return famMilestone
	}
	if x < 65 {
		return famLabel
	}
	return famState
}

// resEvent generates a resource event of family fam on ps at t and applies
// it to ps; false when the family does not apply to ps.
func (g *gen) resEvent(ps *pstate, fam int, t time.Time) (ResourceEvent, bool) {
	ev := ResourceEvent{ParentType: ps.typ, ParentID: ps.id, ParentIID: ps.iid, ProjectID: ps.projectID, GroupID: ps.groupID,
		CreatedAt: t, UserID: g.pickActor(t)}
	ok := true
	switch fam {
	case famLabel:
		ok = g.labelEvent(ps, &ev)
	case famState:
		ok = g.stateEvent(ps, &ev)
	case famMilestone:
		ok = g.milestoneEvent(ps, &ev)
	case famIteration:
		ok = g.iterationEvent(ps, &ev)
	case famWeight:
		ok = g.weightEvent(ps, &ev)
	}
	return ev, ok
}

func (g *gen) availLabels(ps *pstate) []int64 {
	if ps.typ == "Epic" {
		return g.look.groupLabels[ps.groupID]
	}
	return g.look.projLabels[ps.projectID]
}

// labelEvent adds or removes a label, with GitLab's oddities: labels
// deleted since, duplicate adds, removes without an add, hidden rows.
func (g *gen) labelEvent(ps *pstate, ev *ResourceEvent) bool {
	avail := g.availLabels(ps)
	if len(avail) == 0 {
		return false
	}
	notOn := func() int64 {
		var c []int64
		for _, l := range avail {
			if !slices.Contains(ps.labels, l) {
				c = append(c, l)
			}
		}
		if len(c) == 0 {
			return 0
		}
		return c[g.r.IntN(len(c))]
	}
	x := g.r.IntN(100)
	switch {
	case x < 4: // the label has since been deleted
		ev.Action = "add"
		if len(ps.labels) > 0 && g.r.IntN(2) == 0 {
			ev.Action = "remove"
		}
	case x < 7 && len(ps.labels) > 0: // duplicate add
		ev.Action, ev.LabelID = "add", ps.labels[g.r.IntN(len(ps.labels))]
	case x < 9 && notOn() != 0: // remove without a prior add
		ev.Action, ev.LabelID = "remove", notOn()
	case x < 45 && len(ps.labels) > 0:
		g.removeLabel(ps, ev)
	default:
		if l := notOn(); l != 0 {
			ev.Action, ev.LabelID = "add", l
			ps.labels = append(ps.labels, l)
		} else {
			g.removeLabel(ps, ev)
		}
	}
	ev.Hidden = g.r.IntN(100) < 5
	return true
}

// removeLabel takes one of ps's labels off.
func (g *gen) removeLabel(ps *pstate, ev *ResourceEvent) {
	i := g.r.IntN(len(ps.labels))
	ev.Action, ev.LabelID = "remove", ps.labels[i]
	ps.labels = slices.Delete(ps.labels, i, i+1)
}

// stateEvent closes, reopens or merges ps; some closed issues name the
// commit or merge request that closed them.
func (g *gen) stateEvent(ps *pstate, ev *ResourceEvent) bool {
	t := ev.CreatedAt
	switch {
	case ps.typ == "MergeRequest" && ps.state == "merged":
		return false
	case ps.state == "closed":
		ev.State, ps.state, ps.closedAt = "reopened", "opened", nil
	case ps.typ == "MergeRequest" && g.r.IntN(10) < 7:
		ev.State, ps.state, ps.mergedAt, ps.mergedBy = "merged", "merged", ptrTime(t), ev.UserID
	default:
		ev.State, ps.state, ps.closedAt = "closed", "closed", ptrTime(t)
		if ps.typ == "Issue" && g.r.IntN(5) == 0 {
			ev.SourceCommit = g.sha()
			if g.r.IntN(2) == 0 {
				refs := g.refs.mrsOf[ps.projectID]
				if n := createdBefore(refs, t); n > 0 {
					ev.SourceMergeRequestID = refs[g.r.IntN(n)].id
				}
			}
		}
	}
	g.anchorState(ps, *ev)
	return true
}

// milestoneEvent sets or clears an issue's or merge request's milestone.
func (g *gen) milestoneEvent(ps *pstate, ev *ResourceEvent) bool {
	avail := g.look.projMiles[ps.projectID]
	if ps.typ == "Epic" || len(avail) == 0 {
		return false
	}
	ev.MilestoneID = g.reassign(&ps.milestone, avail, 35, 5, ev)
	ev.State = ps.state
	return true
}

// iterationEvent sets or clears a Premium issue's iteration.
func (g *gen) iterationEvent(ps *pstate, ev *ResourceEvent) bool {
	avail := g.look.projIters[ps.projectID]
	if ps.typ != "Issue" || !ps.premium || len(avail) == 0 {
		return false
	}
	ev.IterationID = g.reassign(&ps.iteration, avail, 30, 3, ev)
	return true
}

// reassign clears *cur (if set, in clearPct cases out of 100) or sets it to
// one of avail, sets ev's action and returns the id ev names: 0 (deleted
// since) in gonePct cases out of 100.
func (g *gen) reassign(cur *int64, avail []int64, clearPct, gonePct int, ev *ResourceEvent) int64 {
	var id int64
	if *cur != 0 && g.r.IntN(100) < clearPct {
		ev.Action, id, *cur = "remove", *cur, 0
	} else {
		v := avail[g.r.IntN(len(avail))]
		ev.Action, id, *cur = "add", v, v
	}
	if g.r.IntN(100) < gonePct {
		id = 0
	}
	return id
}

// weightEvent sets a Premium issue's weight (or clears it).
func (g *gen) weightEvent(ps *pstate, ev *ResourceEvent) bool {
	if ps.typ != "Issue" || !ps.premium {
		return false
	}
	if g.r.IntN(10) != 0 {
		w := weights[g.r.IntN(len(weights))]
		ev.Weight = &w
	}
	return true
}
