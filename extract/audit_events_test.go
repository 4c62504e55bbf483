package extract

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/schemas"
)

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

// Windows are at most 30 days, start where asked, meet one microsecond
// apart (GitLab's bounds are inclusive and its timestamps microseconds:
// no instant is in two windows or in none), start at UTC midnights after
// the first, and reach the end of until's day.
func TestAuditWindowsCoverTheSpanExactly(t *testing.T) {
	for _, tc := range []struct{ from, until string }{
		{"2024-01-01T00:00:00Z", "2026-11-20T18:00:00Z"},
		{"2026-11-19T13:45:12.345678Z", "2026-11-20T18:00:00Z"},
		{"2026-10-21T00:00:00Z", "2026-11-19T23:59:59.999999Z"}, // exactly one window of 30 days
		{"2026-10-21T00:00:00Z", "2026-11-20T00:00:00Z"},        // one instant into the 31st day
		{"2024-02-29T23:59:59.999999Z", "2024-03-01T00:00:00Z"},
	} {
		from, until := utc(t, tc.from), utc(t, tc.until)
		ws := AuditWindows(from, until)
		if len(ws) == 0 {
			t.Fatalf("%s..%s: no window", tc.from, tc.until)
		}
		if !ws[0].From.Equal(from) {
			t.Errorf("%s..%s: first window starts at %s", tc.from, tc.until, ws[0].From)
		}
		for i, w := range ws {
			if d := w.Until.Sub(w.From); d > MaxAuditWindow || d < 0 {
				t.Errorf("%s..%s: window %d spans %s", tc.from, tc.until, i, d)
			}
			if i > 0 {
				if got := w.From.Sub(ws[i-1].Until); got != AuditResolution {
					t.Errorf("%s..%s: window %d starts %s after the previous one ends", tc.from, tc.until, i, got)
				}
				if !w.From.Equal(w.From.Truncate(24 * time.Hour)) {
					t.Errorf("%s..%s: window %d starts at %s, not a UTC midnight", tc.from, tc.until, i, w.From)
				}
			}
		}
		last := ws[len(ws)-1]
		if last.Until.Before(until) || !last.From.Before(until.Add(AuditResolution)) {
			t.Errorf("%s..%s: last window %s..%s does not reach until, or starts after it", tc.from, tc.until, last.From, last.Until)
		}
		if end := last.Until.Add(AuditResolution); !end.Equal(end.Truncate(24 * time.Hour)) {
			t.Errorf("%s..%s: last window ends at %s, not at the end of a UTC day", tc.from, tc.until, last.Until)
		}
	}
	if n := len(AuditWindows(utc(t, "2024-01-01T00:00:00Z"), utc(t, "2024-12-31T00:00:00Z"))); n != 13 {
		t.Errorf("366 days: %d windows, want ceil(366/30) = 13", n)
	}
	if ws := AuditWindows(time.Time{}, time.Now()); ws != nil {
		t.Errorf("zero from: %v", ws)
	}
}

// keysetServer serves ids n..1, newest first, per page rows a page, with
// GitLab's keyset Link (an absolute URL whose cursor is the last id), and
// records every query it gets. next, when not nil, rewrites the Link URL.
type keysetServer struct {
	n, per  int
	next    func(r *http.Request, u string) string
	mu      sync.Mutex
	queries []url.Values
	raw     []string // each request's raw query
	links   []string // each next link's raw query
}

func (s *keysetServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.raw = append(s.raw, r.URL.RawQuery)
	s.mu.Unlock()
	top := s.n
	if c := q.Get("cursor"); c != "" {
		id, err := strconv.Atoi(c[len("id-"):])
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		top = id - 1
	}
	var body []byte
	body = append(body, '[')
	last := 0
	for id := top; id > 0 && id > top-s.per; id-- {
		if len(body) > 1 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"id":%d,"entity_type":"Project","entity_id":1,"details":{"author_name":"A"},"created_at":"2024-01-01T00:00:00.000Z"}`, id)
		last = id
	}
	body = append(body, ']')
	if last > 1 {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("cursor", "id-"+strconv.Itoa(last))
		next := "http://" + r.Host + r.URL.Path + "?" + nq.Encode()
		if s.next != nil {
			next = s.next(r, next)
		}
		if u, err := url.Parse(next); err == nil {
			s.mu.Lock()
			s.links = append(s.links, u.RawQuery)
			s.mu.Unlock()
		}
		w.Header().Set("Link", "<"+next+`>; rel="next"`)
	}
	w.Write(body)
}

var oneWindow = AuditWindow{From: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2024, 1, 30, 23, 59, 59, 999999000, time.UTC)}

func auditIDs(t *testing.T, c *Client, s AuditScope) ([]int64, error) {
	t.Helper()
	var ids []int64
	err := c.AuditEvents(context.Background(), s, oneWindow, func(es []AuditEvent) error {
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		return nil
	})
	return ids, err
}

// The first request asks for keyset pages newest first (the only order
// GitLab accepts: any other answers 405, so none is ever sent) over the
// window's instants; each later one is the Link URL as the server gave
// it, cursor included, until no Link names a next page.
func TestAuditEventsFollowTheKeysetCursor(t *testing.T) {
	srv := &keysetServer{n: 250, per: 100}
	c := newTestClient(t, srv.ServeHTTP)
	ids, err := auditIDs(t, c, AuditScope{Kind: schemas.ScopeGroup, ID: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 250 || ids[0] != 250 || ids[249] != 1 {
		t.Fatalf("got %d ids (%v..), want 250..1", len(ids), ids[:min(3, len(ids))])
	}
	if len(srv.queries) != 3 {
		t.Fatalf("%d requests, want 3", len(srv.queries))
	}
	first := srv.queries[0]
	for k, want := range map[string]string{"pagination": "keyset", "order_by": "id", "sort": "desc", "per_page": "100",
		"created_after": "2024-01-01T00:00:00.000000Z", "created_before": "2024-01-30T23:59:59.999999Z"} {
		if got := first.Get(k); got != want {
			t.Errorf("first request %s=%q, want %q", k, got, want)
		}
	}
	for i, q := range srv.queries {
		if q.Get("sort") != "desc" || q.Get("order_by") != "id" {
			t.Errorf("request %d: sort=%q order_by=%q", i, q.Get("sort"), q.Get("order_by"))
		}
		if i > 0 && (q.Get("cursor") != "id-"+strconv.Itoa(251-100*i) || srv.raw[i] != srv.links[i-1]) {
			t.Errorf("request %d: query %q, want the next link's %q", i, srv.raw[i], srv.links[i-1])
		}
	}
}

// A next link to another origin is not followed: the token would go with
// it. Nothing reaches the other host, and the listing fails.
func TestAuditEventsRefuseANextLinkOffOrigin(t *testing.T) {
	other := newCatcher(t)
	srv := &keysetServer{n: 250, per: 100, next: func(r *http.Request, u string) string {
		return other.srv.URL + r.URL.Path + "?cursor=id-151"
	}}
	c := newTestClient(t, srv.ServeHTTP)
	ids, err := auditIDs(t, c, AuditScope{Kind: schemas.ScopeInstance})
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("err = %v, want ErrRedirect", err)
	}
	if len(ids) != 100 || other.hits.Load() != 0 {
		t.Errorf("read %d rows, other host hit %d times", len(ids), other.hits.Load())
	}
	if len(srv.queries) != 1 {
		t.Errorf("%d requests, want 1 (the refusal is not retried)", len(srv.queries))
	}
}

// A next link on the origin but to another listing is refused too: its
// rows are not this listing's.
func TestAuditEventsRefuseANextLinkToAnotherListing(t *testing.T) {
	srv := &keysetServer{n: 250, per: 100, next: func(r *http.Request, u string) string {
		return "http://" + r.Host + "/api/v4/projects/2/audit_events?cursor=id-151"
	}}
	c := newTestClient(t, srv.ServeHTTP)
	if _, err := auditIDs(t, c, AuditScope{Kind: schemas.ScopeProject, ID: 1}); !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("err = %v, want ErrBadAnswer", err)
	}
}

// A server that ignores the cursor (the same rows behind every next link)
// cannot keep a listing going: the second page's ids are not below the
// first's.
func TestAuditEventsRefuseAnIgnoredCursor(t *testing.T) {
	srv := &keysetServer{n: 250, per: 100, next: func(r *http.Request, u string) string {
		return "http://" + r.Host + r.URL.Path + "?pagination=keyset&cursor=ignored"
	}}
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		r.URL.RawQuery = "" // the cursor goes unread: page 1 again
		srv.ServeHTTP(w, r)
	})
	if _, err := auditIDs(t, c, AuditScope{Kind: schemas.ScopeProject, ID: 1}); !errors.Is(err, ErrTooManyPages) {
		t.Fatalf("err = %v, want ErrTooManyPages", err)
	}
	if len(srv.queries) != 2 {
		t.Errorf("%d requests, want 2", len(srv.queries))
	}
}

// A window longer than GitLab answers is refused before anything is sent.
func TestAuditEventsRefuseAWindowOverThirtyDays(t *testing.T) {
	srv := &keysetServer{n: 1, per: 100}
	c := newTestClient(t, srv.ServeHTTP)
	w := AuditWindow{From: oneWindow.From, Until: oneWindow.From.Add(MaxAuditWindow + AuditResolution)}
	err := c.AuditEvents(context.Background(), AuditScope{Kind: schemas.ScopeInstance}, w, func([]AuditEvent) error { return nil })
	if err == nil || len(srv.queries) != 0 {
		t.Fatalf("err = %v after %d requests, want a refusal before any", err, len(srv.queries))
	}
}

// Against the fake GitLab, which answers 405 to any order but id
// descending and 400 to an instance window over 30 days: walking the
// windows from long before the history to now reads every audit event of
// a project and of the instance exactly once (the edge rows at day
// boundaries included), and every request asked for the one order GitLab
// accepts.
func TestAuditEventsAgainstTheFakeAreExact(t *testing.T) {
	fake := gitlabfake.New(gitlabfake.Options{Seed: 4, Token: testToken})
	var mu sync.Mutex
	var bad []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("sort") != "desc" || q.Get("order_by") != "id" || q.Get("pagination") != "keyset" {
			mu.Lock()
			bad = append(bad, r.URL.RawQuery)
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	})
	d := fake.Data()
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []AuditScope{{Kind: schemas.ScopeProject, ID: gitlabfake.APIProjectID}, {Kind: schemas.ScopeInstance}} {
		seen := map[int64]int{}
		for _, w := range AuditWindows(from, d.Now) {
			err := c.AuditEvents(context.Background(), s, w, func(es []AuditEvent) error {
				for _, e := range es {
					seen[e.ID]++
					if e.CreatedAt.Before(w.From.Truncate(time.Millisecond)) || e.CreatedAt.After(w.Until) {
						t.Errorf("%s: event %d at %s outside its window %s..%s", s, e.ID, e.CreatedAt, w.From, w.Until)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		want := 0
		for _, e := range d.AuditEvents {
			if s.Kind == schemas.ScopeInstance || e.EntityType == "Project" && e.EntityID == s.ID {
				want++
				if seen[e.ID] != 1 {
					t.Errorf("%s: event %d at %s read %d times", s, e.ID, e.CreatedAt.Format(time.RFC3339Nano), seen[e.ID])
				}
			}
		}
		if len(seen) != want || want < 100 {
			t.Errorf("%s: read %d events, want %d", s, len(seen), want)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d requests asked for another order, e.g. %s", len(bad), bad[0])
	}
	if fake.Requests()["audit_events"] < 2*len(AuditWindows(from, d.Now)) {
		t.Errorf("%d audit requests", fake.Requests()["audit_events"])
	}
}
