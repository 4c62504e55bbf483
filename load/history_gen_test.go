package load

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// history is a random but seeded history of issues, merge requests and
// epics, kept as plain Go values: the generated views are checked against
// answers computed from these values in Go, independently of their SQL.
// Instants fall on whole minutes in a few hours, so that many events share
// an instant and ties are decided by id, as the views promise.
type history struct {
	r     *rand.Rand
	t0    time.Time
	items []hItem
	// notes are activity rows; labels, states, milestones, iterations,
	// weights and api (Events API rows) the other tables'.
	notes      []hNote
	labels     []hLabel
	states     []hSimple
	milestones []hSimple
	iterations []hSimple
	weights    []hSimple
	api        []hAPI
	nextID     int64
}

type hKey struct {
	typ string
	id  int64
}

type hItem struct {
	hKey
	created time.Time
	// current assignee and reviewer ids, as the parent's list columns say.
	assignees, reviewers []int64
}

type hNote struct {
	id              int64
	item            hKey
	at              time.Time
	by              int64
	action          string
	added, removed  []*int64
	names           []string
	newValue        *string
	misalignedNames bool
}

type hLabel struct {
	id      int64
	item    hKey
	at      time.Time
	action  string
	labelID *int64
	name    *string // as the event carried it
}

// hSimple is a state, milestone, iteration or weight event: action holds
// the state, or add/remove.
type hSimple struct {
	id     int64
	item   hKey
	at     time.Time
	action string
}

type hAPI struct {
	id     int64
	item   hKey
	at     time.Time
	action string // "approved" or "commented on"
	system bool
}

// Users 1 to 5 are in the users table as user1..user5; 6 is not.
func username(id int64) (string, bool) {
	if id >= 1 && id <= 5 {
		return fmt.Sprintf("user%d", id), true
	}
	return "", false
}

// labelsTable is the labels dimension: label 5 was renamed since its
// events were read (they carry "workflow::finished"); label 6 is not in
// the table (its events' name is used).
var labelsTable = map[int64]string{1: "workflow::todo", 2: "workflow::doing", 3: "workflow::review", 4: "bug", 5: "workflow::done"}

var eventLabelName = map[int64]string{1: "workflow::todo", 2: "workflow::doing", 3: "workflow::review", 4: "bug",
	5: "workflow::finished", 6: "workflow::blocked"}

var statuses = []string{"To do", "In progress", "Done"}

func newHistory(seed uint64) *history {
	h := &history{r: rand.New(rand.NewPCG(seed, 1)), t0: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), nextID: 1000}
	for _, typ := range []string{"Issue", "MergeRequest", "Epic"} {
		for id := int64(1); id <= 12; id++ { // the same ids in each type: other resources
			it := hItem{hKey: hKey{typ, id}, created: h.at(0, 60)}
			if typ != "Epic" {
				it.assignees = h.someUsers()
			}
			if typ == "MergeRequest" {
				it.reviewers = h.someUsers()
			}
			h.items = append(h.items, it)
			h.fill(it)
		}
	}
	return h
}

// at is a whole minute from lo to hi minutes after t0.
func (h *history) at(lo, hi int) time.Time {
	return h.t0.Add(time.Duration(lo+h.r.IntN(hi-lo)) * time.Minute)
}

func (h *history) id() int64 {
	h.nextID += 1 + int64(h.r.IntN(3))
	// Ids are not in time order: rows are dealt out of order on purpose.
	return h.nextID
}

func (h *history) someUsers() []int64 {
	var out []int64
	for u := int64(1); u <= 6; u++ {
		if h.r.IntN(4) == 0 {
			out = append(out, u)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// userRef is a user as a note resolves it: usually an id, sometimes null
// (unknown username), written as a ghost or as a known user's name.
func (h *history) userRef() (*int64, string) {
	switch x := h.r.IntN(10); {
	case x == 0:
		return nil, fmt.Sprintf("ghost%d", 1+h.r.IntN(2))
	case x == 1:
		n, _ := username(int64(1 + h.r.IntN(5)))
		return nil, n
	default:
		id := int64(1 + h.r.IntN(6))
		if n, ok := username(id); ok {
			return &id, n
		}
		return &id, fmt.Sprintf("gone%d", id)
	}
}

// fill adds the item's events, after its creation.
func (h *history) fill(it hItem) {
	t := func() time.Time { return h.at(0, 300) }
	if it.typ != "Epic" {
		roles := []string{"assignee"}
		if it.typ == "MergeRequest" {
			roles = append(roles, "reviewer")
		}
		for _, role := range roles {
			for range h.r.IntN(7) {
				n := hNote{id: h.id(), item: it.hKey, at: t(), by: int64(1 + h.r.IntN(5)), action: role}
				for range h.r.IntN(3) {
					id, name := h.userRef()
					n.added, n.names = append(n.added, id), append(n.names, name)
				}
				for range h.r.IntN(2) + boolInt(len(n.added) == 0) {
					id, name := h.userRef()
					n.removed, n.names = append(n.removed, id), append(n.names, name)
				}
				if h.r.IntN(8) == 0 && len(n.names) > 0 { // a body the parser split differently
					n.names, n.misalignedNames = n.names[1:], true
				}
				h.notes = append(h.notes, n)
			}
		}
	}
	if it.typ != "MergeRequest" && h.r.IntN(3) == 0 { // status history on some items only
		for range 1 + h.r.IntN(5) {
			n := hNote{id: h.id(), item: it.hKey, at: t(), by: 1, action: "work_item_status"}
			if h.r.IntN(8) > 0 {
				n.newValue = ptr(statuses[h.r.IntN(len(statuses))])
			}
			h.notes = append(h.notes, n)
		}
	}
	for range h.r.IntN(9) {
		ev := hLabel{id: h.id(), item: it.hKey, at: t(), action: []string{"add", "remove"}[h.r.IntN(2)]}
		if h.r.IntN(15) > 0 {
			l := int64(1 + h.r.IntN(6))
			ev.labelID, ev.name = &l, ptr(eventLabelName[l])
		}
		h.labels = append(h.labels, ev)
	}
	if it.typ == "Issue" {
		for range h.r.IntN(2) {
			h.notes = append(h.notes, hNote{id: h.id(), item: it.hKey, at: t(), by: 1, action: "due_date", newValue: ptr("2024-04-01")})
		}
		for range h.r.IntN(3) {
			h.iterations = append(h.iterations, hSimple{h.id(), it.hKey, t(), []string{"add", "remove"}[h.r.IntN(2)]})
		}
		for range h.r.IntN(3) {
			h.weights = append(h.weights, hSimple{h.id(), it.hKey, t(), "weight"})
		}
	}
	if it.typ == "MergeRequest" {
		for range h.r.IntN(4) {
			h.notes = append(h.notes, hNote{id: h.id(), item: it.hKey, at: t(), by: 1, action: "title",
				newValue: ptr([]string{"draft", "ready"}[h.r.IntN(2)])})
		}
		for range h.r.IntN(3) {
			h.api = append(h.api, hAPI{h.id(), it.hKey, t(), "approved", false})
		}
	}
	if it.typ != "Epic" {
		for range h.r.IntN(3) {
			h.milestones = append(h.milestones, hSimple{h.id(), it.hKey, t(), []string{"add", "remove"}[h.r.IntN(2)]})
		}
		for range h.r.IntN(4) {
			h.api = append(h.api, hAPI{h.id(), it.hKey, t(), "commented on", h.r.IntN(4) == 0})
		}
	}
	states := map[string][]string{"Issue": {"closed", "reopened"}, "MergeRequest": {"closed", "reopened", "merged"}, "Epic": {"closed", "reopened"}}[it.typ]
	for range h.r.IntN(4) {
		h.states = append(h.states, hSimple{h.id(), it.hKey, h.at(60, 300), states[h.r.IntN(len(states))]})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// owner returns the project_id and group_id of an item's rows.
func owner(k hKey) (any, any) {
	if k.typ == "Epic" {
		return nil, 9
	}
	return 7, nil
}

func resRow(id int64, k hKey, at time.Time) row {
	p, g := owner(k)
	return row{"id": id, "resource_type": k.typ, "resource_id": k.id, "resource_iid": k.id, "project_id": p, "group_id": g, "created_at": at}
}

func (h *history) item(k hKey) hItem {
	i := slices.IndexFunc(h.items, func(it hItem) bool { return it.hKey == k })
	return h.items[i]
}

// store writes the history into the warehouse through the ordinary paths.
func (h *history) store(v *viewEnv) {
	v.t.Helper()
	var users, labels, issues, mrs, epics []row
	for id := int64(1); id <= 5; id++ {
		n, _ := username(id)
		users = append(users, row{"id": id, "username": n})
	}
	for id, name := range labelsTable {
		labels = append(labels, row{"id": id, "name": name})
	}
	for _, it := range h.items {
		r := row{"id": it.id, "iid": it.id, "created_at": it.created, "assignee_ids": it.assignees}
		switch it.typ {
		case "Issue":
			r["project_id"] = 7
			issues = append(issues, r)
		case "MergeRequest":
			r["project_id"], r["reviewer_ids"] = 7, it.reviewers
			mrs = append(mrs, r)
		default:
			delete(r, "assignee_ids")
			r["group_id"] = 9
			epics = append(epics, r)
		}
	}
	v.dimension(schemas.Users, users...)
	v.dimension(schemas.Labels, labels...)
	v.dimension(schemas.Issues, issues...)
	v.dimension(schemas.MergeRequests, mrs...)
	v.dimension(schemas.Epics, epics...)

	var notes, labelEvents, states, milestones, iterations, weights, api []row
	for _, n := range h.notes {
		r := resRow(n.id, n.item, n.at)
		r["action"], r["user_id"] = n.action, n.by
		if n.action == "assignee" || n.action == "reviewer" {
			r["added_user_ids"], r["removed_user_ids"], r["target_usernames"] = n.added, n.removed, n.names
		}
		if n.newValue != nil {
			r["new_value"] = *n.newValue
		}
		notes = append(notes, r)
	}
	for _, e := range h.labels {
		r := resRow(e.id, e.item, e.at)
		r["action"] = e.action
		if e.labelID != nil {
			r["label_id"], r["label_name"] = *e.labelID, *e.name
		}
		labelEvents = append(labelEvents, r)
	}
	simple := func(evs []hSimple, col string) []row {
		var out []row
		for _, e := range evs {
			r := resRow(e.id, e.item, e.at)
			r[col] = e.action
			out = append(out, r)
		}
		return out
	}
	states, milestones, iterations = simple(h.states, "state"), simple(h.milestones, "action"), simple(h.iterations, "action")
	for _, e := range h.weights {
		weights = append(weights, row{"id": e.id, "issue_id": e.item.id, "resource_iid": e.item.id, "project_id": 7, "created_at": e.at})
	}
	for _, e := range h.api {
		r := row{"id": e.id, "project_id": 7, "action_name": e.action, "created_at": e.at}
		if e.action == "approved" {
			r["target_type"], r["target_id"], r["target_iid"] = e.item.typ, e.item.id, e.item.id
		} else {
			r["target_type"], r["note_noteable_type"], r["note_noteable_id"], r["note_noteable_iid"], r["note_system"] =
				"Note", e.item.typ, e.item.id, e.item.id, e.system
		}
		api = append(api, r)
	}
	for tbl, rows := range map[*schemas.Table][]row{&schemas.Activity: notes, &schemas.LabelEvents: labelEvents,
		&schemas.StateEvents: states, &schemas.MilestoneEvents: milestones, &schemas.IterationEvents: iterations,
		&schemas.WeightEvents: weights, &schemas.Events: api} {
		h.r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		if len(rows) > 0 {
			v.facts(*tbl, rows...)
		}
	}
}

// cells renders values as query does (NULL, RFC 3339 instants, numbers),
// joined by "|", so Go answers compare with view rows as strings.
func cells(vs ...any) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		switch x := v.(type) {
		case *int64:
			if x == nil {
				v = nil
			} else {
				v = *x
			}
		case *string:
			if x == nil {
				v = nil
			} else {
				v = *x
			}
		case *time.Time:
			if x == nil {
				v = nil
			} else {
				v = *x
			}
		case *time.Duration: // as epoch seconds
			if x == nil {
				v = nil
			} else {
				v = int64(x.Seconds())
			}
		}
		out[i] = sqlCell(v)
	}
	return strings.Join(out, "|")
}

// expectSet compares the rows of q with want, as sorted lists of
// rendered rows: the views promise no order.
func (v *viewEnv) expectSet(q string, want []string) {
	v.t.Helper()
	got := query(v.t, v.w.DB(), q)
	slices.Sort(got)
	slices.Sort(want)
	if len(want) < 10 {
		v.t.Errorf("only %d expected rows: the generator no longer exercises %s", len(want), q)
	}
	if slices.Equal(got, want) {
		return
	}
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("\n  unexpected " + g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("\n  missing    " + w)
		}
	}
	v.t.Errorf("%s\n%d rows, want %d:%s", q, len(got), len(want), b.String())
}

// byTime orders by instant, then id: the order every view promises.
func byTime[T any](at func(T) time.Time, id func(T) int64) func(a, b T) int {
	return func(a, b T) int {
		return cmp.Or(at(a).Compare(at(b)), cmp.Compare(id(a), id(b)))
	}
}

func seeds(t *testing.T) []uint64 {
	if testing.Short() {
		return []uint64{1}
	}
	return []uint64{1, 2, 3}
}
