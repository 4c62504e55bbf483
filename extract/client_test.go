package extract

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake/faults"
)

const testToken = "glpat-secret-test-token"

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewClient(Options{BaseURL: srv.URL, Token: testToken, TokenEnv: "GITLAB_TOKEN",
		Concurrency: 4, MaxAttempts: 4, Timeout: 5 * time.Second, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A page whose rows are all hidden is empty but not the end: paging must
// follow x-next-page, not the page size.
func TestEachFollowsNextPageThroughShortAndEmptyPages(t *testing.T) {
	pages := map[string]string{"1": `[{"id":1,"created_at":"2024-01-01T00:00:00Z"},{"id":2,"created_at":"2024-01-01T00:00:00Z"}]`, "2": `[]`, "3": `[{"id":3,"created_at":"2024-01-01T00:00:00Z"}]`}
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("PRIVATE-TOKEN") != testToken {
			w.WriteHeader(401)
			return
		}
		p := r.URL.Query().Get("page")
		if r.URL.Query().Get("per_page") != "100" {
			t.Errorf("per_page = %q", r.URL.Query().Get("per_page"))
		}
		if p != "3" {
			n, _ := strconv.Atoi(p)
			w.Header().Set("X-Next-Page", strconv.Itoa(n+1))
		} else {
			w.Header().Set("X-Next-Page", "")
		}
		fmt.Fprint(w, pages[p])
	})
	var ids []int64
	err := listAll(context.Background(), c, "projects/1/events", nil, func(es []Event) error {
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[1 2 3]" {
		t.Fatalf("ids = %v, want [1 2 3]", ids)
	}
}

func TestNextPageFromLinkHeaderWhenXNextPageMissing(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query().Get("page")
		if p == "1" {
			w.Header().Set("Link", `<`+"http://"+r.Host+r.URL.Path+`?page=2&per_page=100>; rel="next", <http://x/?page=1>; rel="first"`)
			fmt.Fprint(w, `[{"id":1,"created_at":"2024-01-01T00:00:00Z"}]`)
			return
		}
		fmt.Fprint(w, `[{"id":2,"created_at":"2024-01-01T00:00:00Z"}]`)
	})
	n := 0
	if err := listAll(context.Background(), c, "x", nil, func(es []Event) error { n += len(es); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("rows = %d, want 2", n)
	}
}

// Cut-off bodies (with and without a Content-Length) and 5xx are retried;
// the page is used only once it arrives whole.
func TestRetriesFaultsAndCutBodies(t *testing.T) {
	full := `[{"id":1,"action_name":"opened","created_at":"2024-01-01T00:00:00Z"},{"id":2,"action_name":"closed","created_at":"2024-01-01T00:00:00Z"}]`
	f := faults.New(0, faults.Settings{Script: []faults.Fault{faults.Fail, faults.CutJSON, faults.CutShort}})
	c := newTestClient(t, faults.Inject(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, full)
	}), f).ServeHTTP)
	var got []Event
	if err := listAll(context.Background(), c, "events", nil, func(es []Event) error { got = append(got, es...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || f.Requests() != 4 {
		t.Fatalf("rows %d, calls %d; want 2 rows after 4 calls", len(got), f.Requests())
	}
	if c.Stats.Retries.Load() != 3 {
		t.Fatalf("retries = %d, want 3", c.Stats.Retries.Load())
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	f := faults.New(0, faults.Settings{FailEvery: 1})
	c := newTestClient(t, faults.Inject(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a request got past FailEvery: 1")
	}), f).ServeHTTP)
	err := listAll(context.Background(), c, "events", nil, func([]Event) error { return nil })
	if !errors.Is(err, ErrGaveUp) {
		t.Fatalf("err = %v, want ErrGaveUp", err)
	}
	if f.Requests() != 4 {
		t.Fatalf("calls = %d, want 4 (MaxAttempts)", f.Requests())
	}
}

// A 401 is not retried and its message names the variable, not the token.
func TestUnauthorizedStopsAtOnceWithoutToken(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(401)
		fmt.Fprint(w, `{"message":"401 Unauthorized"}`)
	})
	_, err := c.CurrentUser(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("calls = %d, want 1", calls.Load())
	}
	if strings.Contains(err.Error(), testToken) || !strings.Contains(err.Error(), "$GITLAB_TOKEN") {
		t.Fatalf("message %q must name $GITLAB_TOKEN and not contain the token", err)
	}
}

// A 429 pauses the whole pool for Retry-After, not only the worker that
// received it.
func TestTooManyRequestsPausesThePool(t *testing.T) {
	var early atomic.Int32
	f := faults.New(0, faults.Settings{Script: []faults.Fault{faults.Throttle}})
	start := time.Now() // before the 429: a request less than 900 ms after it is early
	c := newTestClient(t, faults.Inject(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < 900*time.Millisecond {
			early.Add(1)
		}
		fmt.Fprint(w, `{"id":1,"username":"root"}`)
	}), f).ServeHTTP)
	if _, err := c.CurrentUser(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Another worker starting after the 429 must wait too.
	if _, err := c.CurrentUser(context.Background()); err != nil {
		t.Fatal(err)
	}
	if early.Load() != 0 {
		t.Fatalf("%d requests were sent during the Retry-After pause", early.Load())
	}
	if c.Stats.Throttled.Load() != 1 {
		t.Fatalf("throttled = %d, want 1", c.Stats.Throttled.Load())
	}
}

func TestObservePausesWhenRemainingRunsOut(t *testing.T) {
	th := newThrottle(0, 4, time.Minute, nil)
	now := time.Unix(1_000_000, 0)
	h := http.Header{}
	h.Set("RateLimit-Remaining", "100")
	h.Set("RateLimit-Reset", strconv.FormatInt(now.Unix()+30, 10))
	if err := th.Observe(h, now); err != nil {
		t.Fatal(err)
	}
	if !th.pauseUntil.IsZero() {
		t.Fatal("paused with 100 requests left")
	}
	h.Set("RateLimit-Remaining", "3")
	if err := th.Observe(h, now); err != nil {
		t.Fatal(err)
	}
	if !th.pauseUntil.Equal(now.Add(30 * time.Second)) {
		t.Fatalf("pauseUntil = %v, want the reset time", th.pauseUntil)
	}
	h.Set("RateLimit-Reset", strconv.FormatInt(now.Unix()+3600, 10))
	err := th.Observe(h, now)
	if !errors.Is(err, ErrWaitTooLong) || !strings.Contains(err.Error(), "1h0m0s") {
		t.Fatalf("a reset an hour away with max_wait 1m: err = %v, want ErrWaitTooLong naming 1h0m0s", err)
	}
	if !th.pauseUntil.Equal(now.Add(30 * time.Second)) {
		t.Fatal("a refused wait must not pause the pool")
	}
}

func TestForbiddenAndNotFoundAreTyped(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "epics") {
			w.WriteHeader(403)
			return
		}
		w.WriteHeader(404)
	})
	err := c.Epics(context.Background(), 1, time.Time{}, func([]Epic) error { return nil })
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("epics err = %v", err)
	}
	_, err = c.Project(context.Background(), "acme/api")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("project err = %v", err)
	}
}

// The updated_after cursor moves forward after each page, so rows that
// slide back onto an already-read offset page are still seen.
func TestEachUpdatedMovesCursor(t *testing.T) {
	var queries []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		queries = append(queries, q.Get("updated_after")+"/"+q.Get("page"))
		if q.Get("updated_after") == "2024-01-01T00:00:00.000Z" {
			w.Header().Set("X-Next-Page", "2")
			fmt.Fprint(w, `[{"id":1,"iid":1,"project_id":5,"updated_at":"2024-01-02T00:00:00Z"},{"id":2,"iid":2,"project_id":5,"updated_at":"2024-01-03T10:00:00.5+02:00"}]`)
			return
		}
		fmt.Fprint(w, `[{"id":2,"iid":2,"project_id":5,"updated_at":"2024-01-03T08:00:00.500Z"},{"id":3,"iid":3,"project_id":5,"updated_at":"2024-01-04T00:00:00Z"}]`)
	})
	var ids []int64
	err := c.Issues(context.Background(), 5, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), func(is []Issue) error {
		for _, i := range is {
			ids = append(ids, i.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "[2024-01-01T00:00:00.000Z/1 2024-01-03T08:00:00.500Z/1]"
	if fmt.Sprint(queries) != want {
		t.Fatalf("queries = %v, want %v", queries, want)
	}
	if fmt.Sprint(ids) != "[1 2 2 3]" {
		t.Fatalf("ids = %v", ids)
	}
}

// A request that hangs past the timeout is abandoned and retried.
func TestRetriesTimeouts(t *testing.T) {
	f := faults.New(0, faults.Settings{Script: []faults.Fault{faults.Hang}})
	srv := httptest.NewServer(faults.Inject(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id":7,"username":"root"}`)
	}), f))
	t.Cleanup(srv.Close)
	c, err := NewClient(Options{BaseURL: srv.URL, Token: testToken, Concurrency: 2, MaxAttempts: 10,
		Timeout: time.Second, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.CurrentUser(context.Background())
	if err != nil || u.ID != 7 {
		t.Fatalf("user %+v, err %v", u, err)
	}
	if f.Requests() < 2 {
		t.Fatalf("calls = %d, want a retry after the timeout", f.Requests())
	}
}

// Valid JSON of the wrong shape is an error naming the endpoint, not a
// retry and not a panic.
func TestWrongShapeIsAnErrorNotARetry(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprint(w, `[{"id":"not a number","created_at":17}]`)
	})
	err := listAll(context.Background(), c, "projects/1/events", nil, func([]Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "projects/1/events") {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("calls = %d, want 1", calls.Load())
	}
}

// ReadFirstOnly reads page 1 alone and reports whether the listing goes
// on past it: by the page the server names next, not by its count, so a
// listing counted at 5 pages whose first page names no next one has ended.
// EventsPages then reads one page alone, or on to the end.
func TestFirstPageOnlyAndSinglePages(t *testing.T) {
	const pages = 3
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		w.Header().Set("X-Total-Pages", "5") // miscounted: the listing has 3
		if p < pages {
			w.Header().Set("X-Next-Page", strconv.Itoa(p+1))
		}
		fmt.Fprintf(w, `[{"id":%d,"created_at":"2024-01-01T00:00:00Z"}]`, p)
	})
	var ids []int64
	collect := func(es []Event) error {
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		return nil
	}
	first := func(Extent, []Event) Sizing { return ReadFirstOnly }
	stopped, err := c.EventsWindow(context.Background(), EventSource{}, DayWindow{}, first, collect)
	if err != nil || !stopped || fmt.Sprint(ids) != "[1]" {
		t.Fatalf("first page only: stopped %v, ids %v, err %v; want page 1 and stopped", stopped, ids, err)
	}
	ids = nil
	if err := c.EventsPages(context.Background(), EventSource{}, DayWindow{}, 2, false, collect); err != nil || fmt.Sprint(ids) != "[2]" {
		t.Fatalf("page 2 alone: ids %v, err %v", ids, err)
	}
	ids = nil
	if err := c.EventsPages(context.Background(), EventSource{}, DayWindow{}, 2, true, collect); err != nil || fmt.Sprint(ids) != "[2 3]" {
		t.Fatalf("from page 2 on: ids %v, err %v", ids, err)
	}
	// A listing whose first page names no next page has ended, whatever
	// its count: not stopped.
	c2 := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Total-Pages", "5")
		fmt.Fprint(w, `[{"id":1,"created_at":"2024-01-01T00:00:00Z"}]`)
	})
	if stopped, err := c2.EventsWindow(context.Background(), EventSource{}, DayWindow{}, first, func([]Event) error { return nil }); err != nil || stopped {
		t.Fatalf("one-page listing counted at 5: stopped %v, err %v; want the end", stopped, err)
	}
}
