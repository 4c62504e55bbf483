package load

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// instant is one event of a kind on one item.
type instant struct {
	item hKey
	at   time.Time
}

// wantInstants answers, in Go, which instants each event kind of the
// vocabulary names in a generated history: one entry per kind, so a kind
// added to schemas.EventKinds without one fails TestEventKindsAgainstGo.
func wantInstants(h *history) map[string]func(arg string) []instant {
	created := func(typ string) func(string) []instant {
		return func(string) []instant {
			var out []instant
			for _, it := range h.items {
				if it.typ == typ {
					out = append(out, instant{it.hKey, it.created})
				}
			}
			return out
		}
	}
	simple := func(evs *[]hSimple, typ, action string) func(string) []instant {
		return func(string) []instant {
			var out []instant
			for _, e := range *evs {
				if (typ == "" || e.item.typ == typ) && e.action == action {
					out = append(out, instant{e.item, e.at})
				}
			}
			return out
		}
	}
	label := func(action string) func(string) []instant {
		return func(arg string) []instant {
			var out []instant
			for _, e := range h.labels {
				if e.action != action || e.labelID == nil {
					continue
				}
				name := *e.name
				if n, ok := labelsTable[*e.labelID]; ok {
					name = n
				}
				if name == arg {
					out = append(out, instant{e.item, e.at})
				}
			}
			return out
		}
	}
	notes := func(match func(n hNote, arg string) bool) func(string) []instant {
		return func(arg string) []instant {
			var out []instant
			for _, n := range h.notes {
				if match(n, arg) {
					out = append(out, instant{n.item, n.at})
				}
			}
			return out
		}
	}
	api := func(match func(e hAPI) bool) func(string) []instant {
		return func(string) []instant {
			var out []instant
			for _, e := range h.api {
				if match(e) {
					out = append(out, instant{e.item, e.at})
				}
			}
			return out
		}
	}
	value := func(action, v string) func(n hNote, arg string) bool {
		return func(n hNote, arg string) bool {
			want := cmp.Or(v, arg)
			return n.action == action && n.newValue != nil && *n.newValue == want
		}
	}
	assigned := func(role string, added bool) func(n hNote, _ string) bool {
		return func(n hNote, _ string) bool {
			return n.action == role && (added && len(n.added) > 0 || !added && len(n.removed) > 0)
		}
	}
	commented := api(func(e hAPI) bool { return e.action == "commented on" && !e.system })
	kinds := map[string]func(string) []instant{
		"issue_created": created("Issue"), "mr_created": created("MergeRequest"), "epic_created": created("Epic"),
		"issue_closed": simple(&h.states, "Issue", "closed"), "issue_reopened": simple(&h.states, "Issue", "reopened"),
		"mr_merged": simple(&h.states, "MergeRequest", "merged"), "mr_closed": simple(&h.states, "MergeRequest", "closed"),
		"mr_reopened": simple(&h.states, "MergeRequest", "reopened"),
		"epic_closed": simple(&h.states, "Epic", "closed"), "epic_reopened": simple(&h.states, "Epic", "reopened"),
		"label_added": label("add"), "label_removed": label("remove"),
		"milestone_added": simple(&h.milestones, "", "add"), "milestone_removed": simple(&h.milestones, "", "remove"),
		"iteration_added": simple(&h.iterations, "", "add"), "iteration_removed": simple(&h.iterations, "", "remove"),
		"weight_changed": simple(&h.weights, "", "weight"),
		"assigned":       notes(assigned("assignee", true)), "unassigned": notes(assigned("assignee", false)),
		"first_assigned":   firstOf(notes(assigned("assignee", true))),
		"review_requested": notes(assigned("reviewer", true)), "review_request_removed": notes(assigned("reviewer", false)),
		"first_review_requested": firstOf(notes(assigned("reviewer", true))),
		"approved":               api(func(e hAPI) bool { return e.action == "approved" }),
		"commented":              commented, "first_commented": firstOf(commented),
		"marked_draft": notes(value("title", "draft")), "marked_ready": notes(value("title", "ready")),
		"status_set":       notes(value("work_item_status", "")),
		"due_date_changed": notes(func(n hNote, _ string) bool { return n.action == "due_date" }),
	}
	return kinds
}

// firstOf keeps the earliest instant per item.
func firstOf(f func(string) []instant) func(string) []instant {
	return func(arg string) []instant {
		first := map[hKey]time.Time{}
		for _, in := range f(arg) {
			if t, ok := first[in.item]; !ok || in.at.Before(t) {
				first[in.item] = in.at
			}
		}
		var out []instant
		for k, t := range first {
			out = append(out, instant{k, t})
		}
		return out
	}
}

// kindArgs are the arguments the test gives kinds that take one.
var kindArgs = map[string][]string{
	"label_added":   {"workflow::review", "workflow::done", "workflow::blocked", "bug"},
	"label_removed": {"workflow::review", "workflow::done"},
	"status_set":    {"In progress", "Done"},
}

// Every kind of the vocabulary selects, in SQL, the instants the Go
// answer names.
func TestEventKindsAgainstGo(t *testing.T) {
	v := newViewEnv(t)
	h := newHistory(1)
	h.store(v)
	want := wantInstants(h)
	for _, k := range schemas.EventKinds() {
		f, ok := want[k.Name]
		if !ok {
			t.Errorf("event kind %s has no Go answer in wantInstants", k.Name)
			continue
		}
		args := kindArgs[k.Name]
		if k.Arg == "" {
			args = []string{""}
		} else if len(args) == 0 {
			t.Errorf("event kind %s takes an argument: give the test some in kindArgs", k.Name)
		}
		for _, arg := range args {
			ref := schemas.EventRef{Kind: k.Name, Arg: arg}
			var rows []string
			for _, in := range f(arg) {
				p, g := owner(in.item)
				rows = append(rows, cells(in.item.typ, in.item.id, in.item.id, p, g, in.at))
			}
			if len(rows) < 2 {
				t.Errorf("%s: the generated history has %d instants of it; exercise it more", ref, len(rows))
			}
			got := query(t, v.w.DB(), "SELECT * FROM ("+ref.SQL()+")")
			slices.Sort(got)
			slices.Sort(rows)
			if !slices.Equal(got, rows) {
				t.Errorf("%s:\ngot  %q\nwant %q", ref, got, rows)
			}
		}
	}
}

// testStages cover every pairing case: repeated starts sharing an end,
// open occurrences, sum and separate, a start kind wider than its end's
// resource types, kinds from every source table.
func testStages() []schemas.Stage {
	ev := schemas.ParseEventRef
	return []schemas.Stage{
		{Name: "review", Start: ev("label_added:workflow::review"), End: ev("label_removed:workflow::review"), Repeats: schemas.RepeatsSeparate},
		{Name: "review_total", Start: ev("label_added:workflow::review"), End: ev("label_removed:workflow::review"), Repeats: schemas.RepeatsSum},
		{Name: "lead_time", Start: ev("issue_created"), End: ev("issue_closed"), Repeats: schemas.RepeatsSeparate},
		{Name: "time_to_merge", Start: ev("mr_created"), End: ev("mr_merged"), Repeats: schemas.RepeatsSeparate},
		{Name: "first_response", Start: ev("issue_created"), End: ev("first_assigned"), Repeats: schemas.RepeatsSeparate},
		{Name: "review_wait", Start: ev("review_requested"), End: ev("approved"), Repeats: schemas.RepeatsSeparate},
		{Name: "bug_to_merge", Start: ev("label_added:bug"), End: ev("mr_merged"), Repeats: schemas.RepeatsSeparate},
		{Name: "in_progress", Start: ev("status_set:In progress"), End: ev("status_set:Done"), Repeats: schemas.RepeatsSum},
		{Name: "draft", Start: ev("marked_draft"), End: ev("marked_ready"), Repeats: schemas.RepeatsSeparate},
		{Name: "reopened", Start: ev("issue_reopened"), End: ev("issue_closed"), Repeats: schemas.RepeatsSum},
	}
}

// wantStageDurations pairs, in Go, each start with the first end at or
// after it, collapses starts sharing an end (or sharing none) into the
// earliest, and numbers or sums the occurrences.
func wantStageDurations(h *history, stages []schemas.Stage) []string {
	kinds := wantInstants(h)
	var want []string
	for _, s := range stages {
		applies := map[string]bool{}
		for _, p := range s.Resources() {
			applies[string(p)] = true
		}
		perItem := func(ref schemas.EventRef) map[hKey][]time.Time {
			m := map[hKey][]time.Time{}
			for _, in := range kinds[ref.Kind](ref.Arg) {
				if applies[in.item.typ] {
					m[in.item] = append(m[in.item], in.at)
				}
			}
			return m
		}
		starts, ends := perItem(s.Start), perItem(s.End)
		for item, ss := range starts {
			type occ struct{ start, end *time.Time }
			byEnd := map[string]*occ{}
			for _, st := range ss {
				var end *time.Time
				for _, e := range ends[item] {
					if !e.Before(st) && (end == nil || e.Before(*end)) {
						end = &e
					}
				}
				k := "open"
				if end != nil {
					k = end.String()
				}
				if o, ok := byEnd[k]; !ok || st.Before(*o.start) {
					byEnd[k] = &occ{&st, end}
				}
			}
			var occs []occ
			for _, o := range byEnd {
				occs = append(occs, *o)
			}
			slices.SortFunc(occs, func(a, b occ) int { return a.start.Compare(*b.start) })
			p, g := owner(item)
			if s.Repeats == schemas.RepeatsSeparate {
				for i, o := range occs {
					want = append(want, cells(s.Name, item.typ, item.id, item.id, p, g, i+1, 1, o.start, o.end, span{o.start, o.end}.duration()))
				}
				continue
			}
			var total time.Duration
			var last *time.Time
			open := false
			for _, o := range occs {
				if o.end == nil {
					open = true
					continue
				}
				total += o.end.Sub(*o.start)
				if last == nil || o.end.After(*last) {
					last = o.end
				}
			}
			var dur *time.Duration
			if open {
				last = nil
			} else {
				dur = &total
			}
			want = append(want, cells(s.Name, item.typ, item.id, item.id, p, g, nil, len(occs), occs[0].start, last, dur))
		}
	}
	return want
}

func TestStageDurationsAgainstGo(t *testing.T) {
	var all []string
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			v := newViewEnvWith(t, ViewOptions{WorkflowLabelPrefix: "workflow::", Stages: testStages()})
			h := newHistory(seed)
			h.store(v)
			want := wantStageDurations(h, testStages())
			v.expectSet(`SELECT stage, resource_type, resource_id, resource_iid, project_id, group_id, occurrence, occurrences,
			                    started_at, ended_at, epoch(duration)::BIGINT
			             FROM stage_durations`, want)
			all = append(all, want...)
		})
	}
	for _, s := range testStages() {
		if !slices.ContainsFunc(all, func(r string) bool { return strings.HasPrefix(r, s.Name+"|") }) {
			t.Errorf("stage %s has no row: the generator does not exercise it", s.Name)
		}
	}
}

// With no stage the view exists, empty, with its columns and their types.
func TestStageDurationsWithoutStages(t *testing.T) {
	v := newViewEnv(t)
	v.expect("SELECT count(*) FROM stage_durations", []string{"0"})
	got := query(t, v.w.DB(), "SELECT column_name || ' ' || column_type FROM (DESCRIBE stage_durations)")
	want := []string{"stage VARCHAR", "resource_type VARCHAR", "resource_id BIGINT", "resource_iid BIGINT", "project_id BIGINT",
		"group_id BIGINT", "occurrence BIGINT", "occurrences BIGINT", "started_at TIMESTAMP WITH TIME ZONE",
		"ended_at TIMESTAMP WITH TIME ZONE", "duration INTERVAL"}
	if !slices.Equal(got, want) {
		t.Errorf("columns %q, want %q", got, want)
	}
}

// A stage defined by the config is spliced into the view quoted: a name
// or argument with a quote cannot break it.
func TestStageDurationsQuoting(t *testing.T) {
	v := newViewEnvWith(t, ViewOptions{Stages: []schemas.Stage{{Name: "it's", Start: schemas.ParseEventRef("label_added:won't fix"),
		End: schemas.ParseEventRef("issue_closed"), Repeats: schemas.RepeatsSeparate}}})
	v.facts(schemas.LabelEvents, row{"id": 1, "resource_type": "Issue", "resource_id": 1, "resource_iid": 1, "project_id": 7,
		"action": "add", "label_id": 1, "label_name": "won't fix", "created_at": day1("01:00")})
	v.expect("SELECT stage, started_at, ended_at FROM stage_durations", []string{"it's|2024-03-01T01:00:00Z|NULL"})
}
