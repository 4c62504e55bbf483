package gitlabfake

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tAudit is what the tests read of an audit event.
type tAudit struct {
	ID         int64          `json:"id"`
	EntityID   int64          `json:"entity_id"`
	EntityType string         `json:"entity_type"`
	Details    map[string]any `json:"details"`
	CreatedAt  string         `json:"created_at"`
}

// fetchKeyset follows Link rel="next" from path (with its query) and
// returns every row and how many pages it took.
func fetchKeyset(t *testing.T, h http.Handler, path string) ([]tAudit, int) {
	t.Helper()
	var out []tAudit
	pages := 0
	for path != "" {
		rr := get(t, h, path)
		if rr.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rr.Code, rr.Body.String())
		}
		if rr.Header().Get("X-Next-Page") != "" || rr.Header().Get("X-Total") != "" {
			t.Fatalf("a keyset page sent offset headers: %v", rr.Header())
		}
		out = append(out, decode[[]tAudit](t, rr)...)
		pages++
		path = ""
		for _, l := range strings.Split(rr.Header().Get("Link"), ",") {
			if strings.Contains(l, `rel="next"`) {
				u, err := url.Parse(strings.Trim(strings.TrimSpace(strings.Split(l, ";")[0]), "<>"))
				if err != nil || u.Query().Get("cursor") == "" {
					t.Fatalf("next link %q has no cursor", l)
				}
				path = u.RequestURI()
			}
		}
		if pages > 1000 {
			t.Fatal("runaway paging")
		}
	}
	return out, pages
}

const keyset = "pagination=keyset&order_by=id&sort=desc&per_page=100"

// A keyset listing returns exactly the project's events in the window,
// newest id first, over several pages, with inclusive bounds at
// microsecond resolution.
func TestAuditKeysetListing(t *testing.T) {
	s := shared()
	d := s.Data()
	from, until := BaseTime.AddDate(0, 0, -60), BaseTime.AddDate(0, 0, -30).Add(-time.Microsecond)
	var want []int64
	for i := len(d.AuditEvents) - 1; i >= 0; i-- {
		e := d.AuditEvents[i]
		if e.EntityType == "Project" && e.EntityID == BigProjectID && !e.CreatedAt.Before(from) && !e.CreatedAt.After(until) {
			want = append(want, e.ID)
		}
	}
	q := "&created_after=" + from.Format(time.RFC3339Nano) + "&created_before=" + until.Format(time.RFC3339Nano)
	got, pages := fetchKeyset(t, s, "/api/v4/projects/103/audit_events?"+keyset+q)
	if len(got) != len(want) || pages < 2 {
		t.Fatalf("%d rows in %d pages, want %d rows in more than one page", len(got), pages, len(want))
	}
	for i := range got {
		if got[i].ID != want[i] || got[i].EntityType != "Project" || got[i].EntityID != BigProjectID {
			t.Fatalf("row %d: %+v, want id %d", i, got[i], want[i])
		}
	}

	// The edge rows: one at 23:59:59.9995, one at the following midnight.
	var late, midnight AuditEvent
	for _, e := range d.AuditEvents {
		if e.EntityID == APIProjectID && e.CreatedAt.Nanosecond() == 999_500_000 {
			late = e
			break
		}
	}
	for _, e := range d.AuditEvents {
		if e.EntityID == APIProjectID && e.CreatedAt.Equal(late.CreatedAt.Add(500*time.Microsecond)) {
			midnight = e
		}
	}
	if late.ID == 0 || midnight.ID == 0 {
		t.Fatal("no edge rows")
	}
	day := midnight.CreatedAt
	for _, tc := range []struct {
		after, before time.Time
		want          []int64
	}{
		{day.Add(-24 * time.Hour), day.Add(-time.Microsecond), []int64{late.ID}},   // ends a microsecond before midnight
		{day.Add(-24 * time.Hour), day.Add(-time.Millisecond), nil},                // a millisecond bound loses it
		{day, day.Add(time.Microsecond), []int64{midnight.ID}},                     // starts exactly on a row
		{day.Add(time.Microsecond), day.Add(24*time.Hour - time.Microsecond), nil}, // the next instant excludes it
	} {
		q := "&created_after=" + tc.after.Format(time.RFC3339Nano) + "&created_before=" + tc.before.Format(time.RFC3339Nano)
		got, _ := fetchKeyset(t, s, "/api/v4/projects/101/audit_events?"+keyset+q)
		var ids []int64
		for _, e := range got {
			if e.ID == late.ID || e.ID == midnight.ID {
				ids = append(ids, e.ID)
			}
		}
		if len(ids) != len(tc.want) || len(ids) == 1 && ids[0] != tc.want[0] {
			t.Errorf("%s..%s: edge rows %v, want %v", tc.after.Format(time.RFC3339Nano), tc.before.Format(time.RFC3339Nano), ids, tc.want)
		}
	}
	// Milliseconds on the wire, as GitLab renders them.
	rr := get(t, s, "/api/v4/projects/101/audit_events?"+keyset+"&created_after="+day.Add(-time.Millisecond).Format(time.RFC3339Nano)+
		"&created_before="+day.Add(-time.Microsecond).Format(time.RFC3339Nano))
	if evs := decode[[]tAudit](t, rr); len(evs) != 1 || !strings.HasSuffix(evs[0].CreatedAt, "23:59:59.999Z") || evs[0].Details["author_name"] == nil {
		t.Errorf("edge row rendered %+v", evs)
	}
}

func TestAuditRefusals(t *testing.T) {
	s := shared()
	plain := New(Options{Seed: 1, Token: testToken, NotAdmin: true, Scale: Scale{Users: 2, IssuesPerProject: 1, MRsPerProject: 1,
		EpicsPerGroup: 1, EventsPerProject: 1, BigProjectEvents: 1, ResourceEventsPerParent: 1, AuditEventsPerProject: 2}})
	in30 := "&created_after=2026-10-01T00:00:00.000000Z&created_before=2026-10-30T23:59:59.999999Z"
	for _, tc := range []struct {
		h    http.Handler
		path string
		code int
	}{
		{s, "/api/v4/audit_events?" + keyset + in30, 200},
		{s, "/api/v4/audit_events?" + keyset + "&created_after=2026-10-01T00:00:00Z&created_before=2026-10-31T00:00:00.000001Z", 400},
		{s, "/api/v4/audit_events?" + keyset + "&created_after=2026-10-01T00:00:00Z", 400}, // to now: over 30 days
		{s, "/api/v4/projects/101/audit_events?" + keyset + "&created_after=2026-01-01T00:00:00Z", 200},
		{s, "/api/v4/projects/101/audit_events?pagination=keyset&order_by=id&sort=asc" + in30, 405},
		{s, "/api/v4/groups/10/audit_events?pagination=keyset&order_by=created_at&sort=desc" + in30, 405},
		{s, "/api/v4/projects/101/audit_events?" + keyset + "&cursor=bm90LWEtY3Vyc29y" + in30, 400},
		{s, "/api/v4/projects/104/audit_events?" + keyset + in30, 403}, // freeorg/tool: Free
		{s, "/api/v4/groups/freeorg/audit_events?" + keyset + in30, 403},
		{s, "/api/v4/groups/11/audit_events?" + keyset + in30, 200}, // acme/platform: Premium through acme
		{s, "/api/v4/projects/999/audit_events?" + keyset + in30, 404},
		{plain, "/api/v4/audit_events?" + keyset + in30, 403},
		{plain, "/api/v4/projects/101/audit_events?" + keyset + in30, 200},
	} {
		if rr := get(t, tc.h, tc.path); rr.Code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.path, rr.Code, rr.Body.String(), tc.code)
		}
	}
}

// Each AddActivity adds audit events after the old Now, and one at the
// instant of the newest one before, in acme/api.
func TestAuditActivity(t *testing.T) {
	s := New(Options{Seed: 1, Token: testToken})
	before := s.Data()
	newest := before.AuditEvents[len(before.AuditEvents)-1]
	if newest.EntityType != "Project" || newest.EntityID != APIProjectID {
		t.Fatalf("the newest audit event is not acme/api's: %+v", newest)
	}
	sum := s.AddActivity(5)
	after := s.Data()
	added := after.AuditEvents[len(before.AuditEvents):]
	if len(added) != sum.AuditEvents || len(added) < 10 {
		t.Fatalf("%d audit events added, summary %d", len(added), sum.AuditEvents)
	}
	same := 0
	for _, e := range added {
		switch {
		case e.ID <= newest.ID:
			t.Fatalf("audit id %d does not continue after %d", e.ID, newest.ID)
		case e.CreatedAt.Equal(newest.CreatedAt) && e.EntityID == APIProjectID:
			same++
		case !e.CreatedAt.After(before.Now) || e.CreatedAt.After(after.Now):
			t.Fatalf("audit event %d at %s, outside %s..%s", e.ID, e.CreatedAt, before.Now, after.Now)
		}
	}
	if same != 1 {
		t.Fatalf("%d new acme/api audit events at the previous newest instant, want 1", same)
	}
	for i := 1; i < len(after.AuditEvents); i++ {
		if after.AuditEvents[i].ID <= after.AuditEvents[i-1].ID {
			t.Fatal("audit events not in id order")
		}
	}
}

// The Date header is the instance's clock: its Now (BaseTime for a
// generated instance), moved on by AddActivity, plus the time passed since.
// No row is ever dated after the clock a client reads, and no row is
// created on a day the clock has already left, as on a real GitLab: a
// client that bounds its reads by the server's now (audit windows) would
// otherwise miss rows the fake has, and one that records finished days
// would miss the rows AddActivity creates in them. RateLimit-Reset is an
// instant on the same clock, within a minute of it.
func TestDateIsTheInstanceClock(t *testing.T) {
	s := New(Options{Seed: 1, Token: testToken})
	date := func() (time.Time, time.Time) {
		t.Helper()
		rr := get(t, s, "/api/v4/projects")
		d, err := http.ParseTime(rr.Header().Get("Date"))
		if err != nil {
			t.Fatalf("Date %q: %v", rr.Header().Get("Date"), err)
		}
		reset, err := strconv.ParseInt(rr.Header().Get("RateLimit-Reset"), 10, 64)
		if err != nil {
			t.Fatalf("RateLimit-Reset %q: %v", rr.Header().Get("RateLimit-Reset"), err)
		}
		return d, time.Unix(reset, 0)
	}
	for seed := int64(0); seed < 3; seed++ {
		if seed > 0 {
			s.AddActivity(seed)
		}
		data := s.Data()
		d, reset := date()
		if d.Before(data.Now.Truncate(time.Second)) || d.Sub(data.Now) > time.Minute {
			t.Fatalf("activity %d: Date %s, the instance's Now %s", seed, d, data.Now)
		}
		for _, e := range data.Events {
			if e.CreatedAt.After(d.Add(time.Second)) {
				t.Fatalf("activity %d: event %d created %s, after Date %s", seed, e.ID, e.CreatedAt, d)
			}
		}
		if wait := reset.Sub(d); wait <= 0 || wait > 61*time.Second {
			t.Fatalf("activity %d: RateLimit-Reset %s is %s after Date %s, want within the minute", seed, reset, wait, d)
		}
	}
}
