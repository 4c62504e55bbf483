package load

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// The history views are checked against answers worked out by hand on
// small fixtures. Each test opens a warehouse (which creates the views),
// stores its fixture through the ordinary write paths, queries the view and
// compares with a literal table. Instants are on 2024-03-01 unless a test
// says otherwise; fixture rows are appended out of (created_at, id) order
// on purpose, so that nothing depends on insertion order.

// day1 returns 2024-03-01 at hh:mm UTC.
func day1(hhmm string) time.Time { return at("2024-03-01", hhmm) }

func at(date, hhmm string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", date+" "+hhmm)
	if err != nil {
		panic(err)
	}
	return t
}

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// viewEnv is a warehouse holding one fixture.
type viewEnv struct {
	*env
	w *Warehouse
}

func newViewEnv(t *testing.T) *viewEnv { return newViewEnvWith(t, ViewOptions{}) }

// newViewEnvWith is newViewEnv with the views built from opts.
func newViewEnvWith(t *testing.T, opts ViewOptions) *viewEnv {
	e := newEnv(t)
	o := e.opts("views-test")
	o.Views = opts
	w, err := Open(e.ctx, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	v := &viewEnv{env: e, w: w}
	t.Cleanup(func() {
		if err := v.w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		e.alloc.AssertSize(t, 0)
	})
	return v
}

func (v *viewEnv) facts(tbl schemas.Table, rows ...row) {
	v.t.Helper()
	if n := v.mustAppend(v.w, tbl, rows); n != int64(len(rows)) {
		v.t.Fatalf("%s: stored %d of %d fixture rows", tbl.Name, n, len(rows))
	}
}

func (v *viewEnv) dimension(tbl schemas.Table, rows ...row) {
	v.t.Helper()
	rec := buildRecord(v.t, v.alloc, tbl, rows...)
	defer rec.Release()
	if err := v.w.UpsertDimension(v.ctx, tbl, rec); err != nil {
		v.t.Fatalf("UpsertDimension %s: %v", tbl.Name, err)
	}
}

// expect runs q and compares its rows, in order, with want. Cells are
// rendered by query: NULL, RFC 3339 UTC instants, fmt.Sprint otherwise.
func (v *viewEnv) expect(q string, want []string) {
	v.t.Helper()
	got := query(v.t, v.w.DB(), q)
	if slices.Equal(got, want) {
		return
	}
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		mark := "  "
		if g != w {
			mark = "≠ "
		}
		b.WriteString("\n" + mark + "got  " + g + "\n" + mark + "want " + w)
	}
	v.t.Errorf("%s\n%d rows, want %d:%s", q, len(got), len(want), b.String())
}

func (v *viewEnv) expectType(view, col, typ string) {
	v.t.Helper()
	got := query(v.t, v.w.DB(), "SELECT column_type FROM (DESCRIBE SELECT "+col+" FROM "+view+")")
	if len(got) != 1 || got[0] != typ {
		v.t.Errorf("%s.%s has type %v, want %s", view, col, got, typ)
	}
}

func labelEvent(id int, typ string, resource int, action string, label any, created time.Time, user any) row {
	r := row{"id": id, "resource_type": typ, "resource_id": resource, "action": action, "created_at": created,
		"label_id": label, "user_id": user}
	switch typ {
	case "Epic":
		r["group_id"], r["resource_iid"] = 9, 3
	default:
		r["project_id"], r["resource_iid"] = 7, resource-99 // issue/MR 100 is !1, 101 is !2
	}
	if label != nil {
		// The name the event carried when it was read; the labels table
		// (latest name) wins over it where it has the label.
		r["label_name"] = map[int]string{1: "bug (old name)", 2: "feature"}[label.(int)]
	}
	return r
}

func TestLabelIntervalsView(t *testing.T) {
	v := newViewEnv(t)
	li := func(id int, typ string, resource int, action string, label any, hhmm string, user any) row {
		return labelEvent(id, typ, resource, action, label, day1(hhmm), user)
	}
	v.dimension(schemas.Labels, row{"id": 1, "name": "bug"}) // label 2 is not in the table: the event's name is used
	v.facts(schemas.LabelEvents,
		// Issue 100, label 1: add, add while open (ignored), remove,
		// remove with nothing open (ignored), add that stays open.
		li(14, "Issue", 100, "add", 1, "05:00", 5),
		li(12, "Issue", 100, "remove", 1, "03:00", 3),
		li(10, "Issue", 100, "add", 1, "01:00", 1),
		li(13, "Issue", 100, "remove", 1, "04:00", 4),
		li(11, "Issue", 100, "add", 1, "02:00", 2),
		// Issue 100, label 2: an add and a remove at the same instant;
		// by id the add (20) comes first, so they make a zero-length span.
		// (Taken the other way round, the remove would be an orphan and
		// the add would stay open.)
		li(21, "Issue", 100, "remove", 2, "06:00", 8),
		li(20, "Issue", 100, "add", 2, "06:00", 7),
		// Events of deleted labels are ignored, whatever their order.
		li(31, "Issue", 100, "remove", nil, "00:45", 1),
		li(30, "Issue", 100, "add", nil, "00:30", 1),
		li(32, "Issue", 100, "add", nil, "00:50", 1),
		// MergeRequest 100 shares the issue's resource_id but is another
		// resource: its span of label 1 (interleaved in time with the
		// issue's) is independent.
		li(41, "MergeRequest", 100, "remove", 1, "07:00", 2),
		li(40, "MergeRequest", 100, "add", 1, "02:30", 1),
		// Issue 101, label 1: orphan remove, then an add left open.
		li(50, "Issue", 101, "remove", 1, "01:30", 3),
		li(51, "Issue", 101, "add", 1, "08:00", nil),
		// Epic 500 of group 9 (no project); the remove is by a deleted user.
		li(61, "Epic", 500, "remove", 1, "09:00", nil),
		li(60, "Epic", 500, "add", 1, "01:00", 6),
		// A span across days.
		labelEvent(70, "Issue", 101, "add", 2, at("2024-02-28", "22:00"), 4),
		labelEvent(71, "Issue", 101, "remove", 2, at("2024-03-01", "23:30"), 4),
	)

	v.expect(`SELECT resource_type, resource_id, project_id, group_id, resource_iid, label_id, label_name,
	                 added_at, removed_at, added_by, removed_by, duration::VARCHAR
	          FROM label_intervals ORDER BY resource_type, resource_id, label_id, added_at`, []string{
		"Epic|500|NULL|9|3|1|bug|2024-03-01T01:00:00Z|2024-03-01T09:00:00Z|6|NULL|08:00:00",
		"Issue|100|7|NULL|1|1|bug|2024-03-01T01:00:00Z|2024-03-01T03:00:00Z|1|3|02:00:00",
		"Issue|100|7|NULL|1|1|bug|2024-03-01T05:00:00Z|NULL|5|NULL|NULL",
		"Issue|100|7|NULL|1|2|feature|2024-03-01T06:00:00Z|2024-03-01T06:00:00Z|7|8|00:00:00",
		"Issue|101|7|NULL|2|1|bug|2024-03-01T08:00:00Z|NULL|NULL|NULL|NULL",
		"Issue|101|7|NULL|2|2|feature|2024-02-28T22:00:00Z|2024-03-01T23:30:00Z|4|4|2 days 01:30:00",
		"MergeRequest|100|7|NULL|1|1|bug|2024-03-01T02:30:00Z|2024-03-01T07:00:00Z|1|2|04:30:00",
	})
	v.expectType("label_intervals", "duration", "INTERVAL")
	v.expectType("label_intervals", "added_at", "TIMESTAMP WITH TIME ZONE")
}

func TestStateIntervalsView(t *testing.T) {
	v := newStateFixture(t)
	v.expect(`SELECT resource_type, resource_id, project_id, group_id, resource_iid, state,
	                 started_at, ended_at, duration::VARCHAR, event_id, changed_by
	          FROM state_intervals ORDER BY resource_type, resource_id, started_at, event_id NULLS FIRST`, []string{
		// Epic 500: closed at the very instant it was created; the
		// implicit "opened" span comes first and lasts zero.
		"Epic|500|NULL|9|3|opened|2024-03-01T12:00:00Z|2024-03-01T12:00:00Z|00:00:00|NULL|NULL",
		"Epic|500|NULL|9|3|closed|2024-03-01T12:00:00Z|NULL|NULL|90|4",
		// Issue 100: opened, closed, reopened, closed (still).
		"Issue|100|7|NULL|1|opened|2024-03-01T00:00:00Z|2024-03-03T10:00:00Z|2 days 10:00:00|NULL|NULL",
		"Issue|100|7|NULL|1|closed|2024-03-03T10:00:00Z|2024-03-04T10:00:00Z|1 day|70|1",
		"Issue|100|7|NULL|1|reopened|2024-03-04T10:00:00Z|2024-03-05T10:30:00Z|1 day 00:30:00|71|2",
		"Issue|100|7|NULL|1|closed|2024-03-05T10:30:00Z|NULL|NULL|72|3",
		// Issue 101: no state event, open since creation.
		"Issue|101|7|NULL|2|opened|2024-03-01T00:00:00Z|NULL|NULL|NULL|NULL",
		// MergeRequest 100 (same id as the issue, another resource):
		// closed and reopened at the same instant, ordered by id.
		"MergeRequest|100|7|NULL|5|opened|2024-03-02T00:00:00Z|2024-03-02T05:00:00Z|05:00:00|NULL|NULL",
		"MergeRequest|100|7|NULL|5|closed|2024-03-02T05:00:00Z|2024-03-02T05:00:00Z|00:00:00|80|5",
		"MergeRequest|100|7|NULL|5|reopened|2024-03-02T05:00:00Z|2024-03-02T06:00:00Z|01:00:00|81|5",
		"MergeRequest|100|7|NULL|5|merged|2024-03-02T06:00:00Z|NULL|NULL|82|6",
		// MergeRequest 102: merged once.
		"MergeRequest|102|7|NULL|6|opened|2024-03-02T00:00:00Z|2024-03-04T00:00:00Z|2 days|NULL|NULL",
		"MergeRequest|102|7|NULL|6|merged|2024-03-04T00:00:00Z|NULL|NULL|85|1",
	})
	v.expectType("state_intervals", "duration", "INTERVAL")
}

func TestCycleTimesView(t *testing.T) {
	v := newStateFixture(t)
	v.expect(`SELECT resource_type, resource_id, project_id, resource_iid, title, created_at,
	                 first_closed_at, cycle_time::VARCHAR, reopen_count
	          FROM cycle_times ORDER BY resource_type, resource_id`, []string{
		// First close, not the last; one reopen.
		"Issue|100|7|1|Crash on start|2024-03-01T00:00:00Z|2024-03-03T10:00:00Z|2 days 10:00:00|1",
		// Never closed: NULLs and no reopen.
		"Issue|101|7|2|Typo|2024-03-01T00:00:00Z|NULL|NULL|0",
		// Closed at 05:00 then merged at 06:00: the first of the two counts.
		"MergeRequest|100|7|5|Fix crash|2024-03-02T00:00:00Z|2024-03-02T05:00:00Z|05:00:00|1",
		"MergeRequest|102|7|6|Docs|2024-03-02T00:00:00Z|2024-03-04T00:00:00Z|2 days|0",
		// No epics.
	})
	v.expectType("cycle_times", "cycle_time", "INTERVAL")
}

// newStateFixture stores the parents and state events shared by the
// state_intervals and cycle_times tests.
func newStateFixture(t *testing.T) *viewEnv {
	v := newViewEnv(t)
	v.dimension(schemas.Issues,
		row{"id": 100, "iid": 1, "project_id": 7, "title": "Crash on start", "state": "closed", "created_at": day1("00:00")},
		row{"id": 101, "iid": 2, "project_id": 7, "title": "Typo", "state": "opened", "created_at": day1("00:00")})
	v.dimension(schemas.MergeRequests,
		row{"id": 100, "iid": 5, "project_id": 7, "title": "Fix crash", "state": "merged", "created_at": at("2024-03-02", "00:00")},
		row{"id": 102, "iid": 6, "project_id": 7, "title": "Docs", "state": "merged", "created_at": at("2024-03-02", "00:00")})
	v.dimension(schemas.Epics,
		row{"id": 500, "iid": 3, "group_id": 9, "title": "Roadmap", "state": "closed", "created_at": day1("12:00")})
	se := func(id int, typ string, resource, iid int, state string, created time.Time, user any) row {
		r := row{"id": id, "resource_type": typ, "resource_id": resource, "resource_iid": iid, "state": state,
			"created_at": created, "user_id": user}
		if typ == "Epic" {
			r["group_id"] = 9
		} else {
			r["project_id"] = 7
		}
		return r
	}
	v.facts(schemas.StateEvents,
		se(72, "Issue", 100, 1, "closed", at("2024-03-05", "10:30"), 3),
		se(70, "Issue", 100, 1, "closed", at("2024-03-03", "10:00"), 1),
		se(71, "Issue", 100, 1, "reopened", at("2024-03-04", "10:00"), 2),
		se(82, "MergeRequest", 100, 5, "merged", at("2024-03-02", "06:00"), 6),
		se(81, "MergeRequest", 100, 5, "reopened", at("2024-03-02", "05:00"), 5),
		se(80, "MergeRequest", 100, 5, "closed", at("2024-03-02", "05:00"), 5),
		se(85, "MergeRequest", 102, 6, "merged", at("2024-03-04", "00:00"), 1),
		se(90, "Epic", 500, 3, "closed", day1("12:00"), 4),
	)
	return v
}

func TestMilestoneChangesView(t *testing.T) {
	v := newViewEnv(t)
	v.dimension(schemas.Milestones,
		row{"id": 1, "iid": 1, "project_id": 7, "title": "v1", "due_date": date("2024-04-01")},
		row{"id": 2, "iid": 2, "project_id": 7, "title": "v2", "due_date": date("2024-05-01")},
		row{"id": 3, "iid": 3, "project_id": 7, "title": "v3", "due_date": date("2024-04-01")}, // same day as v1
		row{"id": 4, "iid": 4, "project_id": 7, "title": "backlog"},                            // no due date
		// Moved since the events were read: the table's (latest) due
		// date wins over the stale one the events carry.
		row{"id": 5, "iid": 5, "project_id": 7, "title": "v5", "due_date": date("2024-06-01")},
		// Milestone 6 is not in the table: the event's own fields are used.
	)
	me := func(id, resource int, typ, action string, milestone any, hhmm string) row {
		r := row{"id": id, "resource_type": typ, "resource_id": resource, "resource_iid": resource - 99, "project_id": 7,
			"action": action, "created_at": day1(hhmm), "user_id": 1, "milestone_id": milestone}
		switch milestone {
		case 5:
			r["milestone_title"], r["milestone_due_date"] = "v5", date("2024-01-01")
		case 6:
			r["milestone_title"], r["milestone_due_date"] = "v6 (event)", date("2024-03-15")
		case nil:
		default:
			r["milestone_title"] = "event title"
		}
		return r
	}
	v.facts(schemas.MilestoneEvents,
		// Issue 100.
		me(7, 100, "Issue", "add", 2, "07:00"),
		me(1, 100, "Issue", "add", 1, "01:00"),    // first milestone: assigned
		me(2, 100, "Issue", "add", 2, "02:00"),    // v1 → v2: later by 30 days
		me(3, 100, "Issue", "add", 3, "03:00"),    // v2 → v3: earlier by 30 days
		me(4, 100, "Issue", "add", 1, "04:00"),    // v3 → v1: same due date
		me(5, 100, "Issue", "add", 4, "05:00"),    // v1 → backlog: no due date, unknown
		me(6, 100, "Issue", "remove", 4, "06:00"), // removed
		// (7) v2 after the removal replaces nothing: assigned.
		// Issue 101: two adds at the same instant, by id: v5 (id 20) then
		// v6 (id 21), due 2024-06-01 → 2024-03-15: earlier by 78 days.
		me(21, 101, "Issue", "add", 6, "01:00"),
		me(20, 101, "Issue", "add", 5, "01:00"),
		// MergeRequest 100 shares the issue's resource_id: its first event
		// is an assignment, and it does not precede the issue's.
		me(30, 100, "MergeRequest", "add", 2, "00:30"),
		me(31, 100, "MergeRequest", "remove", 2, "08:00"),
		// Issue 102: a deleted milestone, then v1: what v1 replaced is
		// unknown, so is the direction.
		me(40, 102, "Issue", "add", nil, "01:00"),
		me(41, 102, "Issue", "add", 1, "02:00"),
	)
	v.expect(`SELECT id, resource_type, resource_id, action, milestone_id, milestone_title, milestone_due_date::VARCHAR,
	                 previous_milestone_id, previous_milestone_title, previous_due_date::VARCHAR,
	                 due_date_shift_days, direction
	          FROM milestone_changes ORDER BY id`, []string{
		"1|Issue|100|add|1|v1|2024-04-01|NULL|NULL|NULL|NULL|assigned",
		"2|Issue|100|add|2|v2|2024-05-01|1|v1|2024-04-01|30|later",
		"3|Issue|100|add|3|v3|2024-04-01|2|v2|2024-05-01|-30|earlier",
		"4|Issue|100|add|1|v1|2024-04-01|3|v3|2024-04-01|0|same",
		"5|Issue|100|add|4|backlog|NULL|1|v1|2024-04-01|NULL|unknown",
		"6|Issue|100|remove|4|backlog|NULL|NULL|NULL|NULL|NULL|removed",
		"7|Issue|100|add|2|v2|2024-05-01|NULL|NULL|NULL|NULL|assigned",
		"20|Issue|101|add|5|v5|2024-06-01|NULL|NULL|NULL|NULL|assigned",
		"21|Issue|101|add|6|v6 (event)|2024-03-15|5|v5|2024-06-01|-78|earlier",
		"30|MergeRequest|100|add|2|v2|2024-05-01|NULL|NULL|NULL|NULL|assigned",
		"31|MergeRequest|100|remove|2|v2|2024-05-01|NULL|NULL|NULL|NULL|removed",
		"40|Issue|102|add|NULL|NULL|NULL|NULL|NULL|NULL|NULL|assigned",
		"41|Issue|102|add|1|v1|2024-04-01|NULL|NULL|NULL|NULL|unknown",
	})
	v.expectType("milestone_changes", "due_date_shift_days", "BIGINT")
}
