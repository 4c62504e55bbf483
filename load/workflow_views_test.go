package load

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// The assignment and workflow views are checked against the same rules
// worked out in plain Go, as state machines over a generated history
// (history_gen_test.go), row for row.

// span is one interval of a Go answer.
type span struct {
	start, end *time.Time
}

func (s span) duration() *time.Duration {
	if s.end == nil {
		return nil
	}
	return ptr(s.end.Sub(*s.start))
}

// assignmentChange is one user added or removed by one note.
type assignmentChange struct {
	note    hNote
	add     bool
	uid     *int64
	written *string // the username the body wrote for this user, when the counts line up
}

func wantAssignmentIntervals(h *history) []string {
	notes := slices.Clone(h.notes)
	slices.SortFunc(notes, byTime(func(n hNote) time.Time { return n.at }, func(n hNote) int64 { return n.id }))
	type group struct {
		item hKey
		role string
		user string
	}
	var order []group
	changes := map[group][]assignmentChange{}
	named := map[hKey]map[string][]assignmentChange{} // per item and role, every change naming someone
	for _, n := range notes {
		if n.action != "assignee" && n.action != "reviewer" {
			continue
		}
		aligned := len(n.names) == len(n.added)+len(n.removed)
		var cs []assignmentChange
		for i, id := range n.added {
			c := assignmentChange{note: n, add: true, uid: id}
			if aligned {
				c.written = &n.names[i]
			}
			cs = append(cs, c)
		}
		for i, id := range n.removed {
			c := assignmentChange{note: n, uid: id}
			if aligned {
				c.written = &n.names[len(n.added)+i]
			}
			cs = append(cs, c)
		}
		// Within one note, adds come before removes (as "add" < "remove").
		for _, c := range cs {
			var key string
			switch {
			case c.uid != nil:
				key = fmt.Sprint(*c.uid)
			case c.written != nil:
				key = "@" + *c.written
			default:
				continue // nobody we can name
			}
			g := group{n.item, n.action, key}
			if _, ok := changes[g]; !ok {
				order = append(order, g)
			}
			changes[g] = append(changes[g], c)
			if named[n.item] == nil {
				named[n.item] = map[string][]assignmentChange{}
			}
			named[n.item][n.action] = append(named[n.item][n.action], c)
		}
	}
	var want []string
	for _, g := range order {
		var open *assignmentChange
		emit := func(start assignmentChange, end *assignmentChange) {
			var name *string
			if start.uid != nil {
				if n, ok := username(*start.uid); ok {
					name = &n
				}
			}
			if name == nil {
				name = start.written
			}
			sp, by := span{start: &start.note.at}, (*int64)(nil)
			if end != nil {
				sp.end, by = &end.note.at, &end.note.by
			}
			p, gr := owner(g.item)
			want = append(want, cells(g.item.typ, g.item.id, g.item.id, p, gr, g.role, start.uid, name,
				sp.start, sp.end, sp.duration(), start.note.by, by, false))
		}
		for _, c := range changes[g] {
			switch {
			case c.add && open == nil:
				open = &c
			case !c.add && open != nil:
				emit(*open, &c)
				open = nil
			}
		}
		if open != nil {
			emit(*open, nil)
		}
	}
	// Users assigned now whom no note names in that role get an inferred
	// open span from creation.
	for _, it := range h.items {
		for role, ids := range map[string][]int64{"assignee": it.assignees, "reviewer": it.reviewers} {
			for _, id := range ids {
				name, known := username(id)
				if slices.ContainsFunc(named[it.hKey][role], func(c assignmentChange) bool {
					return c.uid != nil && *c.uid == id || c.uid == nil && known && *c.written == name
				}) {
					continue
				}
				var n *string
				if known {
					n = &name
				}
				want = append(want, cells(it.typ, it.id, it.id, 7, nil, role, id, n, it.created, nil, nil, nil, nil, true))
			}
		}
	}
	return want
}

func TestAssignmentIntervalsAgainstGo(t *testing.T) {
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			v := newViewEnv(t)
			h := newHistory(seed)
			h.store(v)
			v.expectSet(`SELECT resource_type, resource_id, resource_iid, project_id, group_id, role, user_id, username,
			                    assigned_at, unassigned_at, epoch(duration)::BIGINT, assigned_by, unassigned_by, inferred
			             FROM assignment_intervals`, wantAssignmentIntervals(h))
		})
	}
}

// wantWorkflowIntervals: per item, status notes if it has any, else
// workflow labels, through one state machine: the current stage, ended
// when another starts or it is cleared.
func wantWorkflowIntervals(h *history, prefix string) []string {
	var want []string
	for _, it := range h.items {
		type step struct {
			at    time.Time
			id    int64
			add   bool
			stage *string
		}
		var steps []step
		source := "status"
		for _, n := range h.notes {
			if n.item == it.hKey && n.action == "work_item_status" {
				steps = append(steps, step{n.at, n.id, true, n.newValue})
			}
		}
		if len(steps) == 0 {
			source = "label"
			for _, e := range h.labels {
				if e.item != it.hKey || e.name == nil {
					continue
				}
				name := *e.name
				if n, ok := labelsTable[*e.labelID]; ok {
					name = n
				}
				if stage, ok := strings.CutPrefix(name, prefix); ok {
					steps = append(steps, step{e.at, e.id, e.action == "add", &stage})
				}
			}
		}
		slices.SortFunc(steps, byTime(func(s step) time.Time { return s.at }, func(s step) int64 { return s.id }))
		var cur *string
		var since time.Time
		p, g := owner(it.hKey)
		emit := func(end *time.Time) {
			sp := span{start: &since, end: end}
			want = append(want, cells(it.typ, it.id, it.id, p, g, *cur, source, since, end, sp.duration()))
		}
		for _, s := range steps {
			switch {
			case s.add && s.stage != nil && (cur == nil || *cur != *s.stage): // a new stage
				if cur != nil {
					emit(&s.at)
				}
				cur, since = s.stage, s.at
			case cur != nil && (s.stage == nil || !s.add && *s.stage == *cur): // the stage cleared
				emit(&s.at)
				cur = nil
			}
		}
		if cur != nil {
			emit(nil)
		}
	}
	return want
}

func TestWorkflowIntervalsAgainstGo(t *testing.T) {
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			v := newViewEnvWith(t, ViewOptions{WorkflowLabelPrefix: "workflow::"})
			h := newHistory(seed)
			h.store(v)
			v.expectSet(`SELECT resource_type, resource_id, resource_iid, project_id, group_id, stage, source,
			                    started_at, ended_at, epoch(duration)::BIGINT
			             FROM workflow_intervals`, wantWorkflowIntervals(h, "workflow::"))
			if n := queryInt(t, v.w.DB(), "SELECT count(DISTINCT source) FROM workflow_intervals"); n != 2 {
				t.Errorf("%d sources in the view, want status and label both exercised", n)
			}
		})
	}
}

// The prefix comes from the options, quoted: another prefix reads other
// labels, and a quote in it cannot break the view.
func TestWorkflowIntervalsPrefix(t *testing.T) {
	v := newViewEnvWith(t, ViewOptions{WorkflowLabelPrefix: "it's::"})
	v.facts(schemas.LabelEvents,
		row{"id": 1, "resource_type": "Issue", "resource_id": 1, "resource_iid": 1, "project_id": 7, "action": "add",
			"label_id": 1, "label_name": "it's::review", "created_at": day1("01:00")},
		row{"id": 2, "resource_type": "Issue", "resource_id": 1, "resource_iid": 1, "project_id": 7, "action": "add",
			"label_id": 2, "label_name": "workflow::review", "created_at": day1("02:00")})
	v.expect("SELECT stage, started_at, ended_at FROM workflow_intervals", []string{"review|2024-03-01T01:00:00Z|NULL"})
}
