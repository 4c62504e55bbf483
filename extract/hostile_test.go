package extract

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile and broken servers, one behaviour each, against the client alone.
// Every server here is on 127.0.0.1 and every loop in it is bounded by the
// client's own bounds (max_pages, max_attempts), which is what is tested.

const okEvent = `{"id":%d,"created_at":"2024-01-01T00:00:00Z","action_name":"opened"}`

// catcher is a second origin that records whether anything reached it.
type catcher struct {
	srv  *httptest.Server
	hits atomic.Int64
	tok  atomic.Int64
}

func newCatcher(t *testing.T) *catcher {
	c := &catcher{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		if r.Header.Get("PRIVATE-TOKEN") != "" || r.Header.Get("Authorization") != "" {
			c.tok.Add(1)
		}
		fmt.Fprint(w, `{"message":"welcome to the other host","id":0}`)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func clientFor(t *testing.T, base string, hc *http.Client, mutate func(*Options)) *Client {
	t.Helper()
	o := Options{BaseURL: base, Token: testToken, TokenEnv: "GITLAB_TOKEN", Concurrency: 2, MaxAttempts: 3,
		Timeout: 10 * time.Second, BackoffBase: time.Millisecond, HTTPClient: hc}
	if mutate != nil {
		mutate(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRedirectsOffOriginAreRefused(t *testing.T) {
	other := newCatcher(t)
	otherURL, _ := url.Parse(other.srv.URL)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	tlsURL, _ := url.Parse(tlsSrv.URL)
	// The same host as the TLS server, on plain http at the catcher's port.
	downgrade := "http://" + tlsURL.Hostname() + ":" + otherURL.Port() + "/api/v4/projects/1"

	cases := []struct {
		name, target string
		status       int
		tls          bool
		wantHost     string
	}{
		{"another host", strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1) + "/login", http.StatusFound, false, "localhost"},
		{"another port", other.srv.URL + "/api/v4/projects/1", http.StatusMovedPermanently, false, otherURL.Host},
		{"https to http", downgrade, http.StatusFound, true, "plain http"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tc.target, tc.status)
			})
			var base string
			var hc *http.Client
			if tc.tls {
				srv := httptest.NewTLSServer(h)
				t.Cleanup(srv.Close)
				base, hc = srv.URL, srv.Client()
			} else {
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				base = srv.URL
			}
			before := other.hits.Load()
			c := clientFor(t, base, hc, nil)
			_, err := c.Project(context.Background(), "1")
			if !errors.Is(err, ErrRedirect) {
				t.Fatalf("err = %v, want ErrRedirect", err)
			}
			if !errors.Is(err, ErrWrongOrigin) {
				t.Errorf("a redirect on the first request must stop the run (ErrWrongOrigin): %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, strconv.Itoa(tc.status)) || !strings.Contains(msg, tc.wantHost) {
				t.Errorf("error %q must name the status %d and %q", msg, tc.status, tc.wantHost)
			}
			if strings.Contains(msg, testToken) {
				t.Error("error carries the token")
			}
			if n := other.hits.Load() - before; n != 0 {
				t.Errorf("%d requests reached the other origin", n)
			}
			if c.Stats.Requests.Load() != 1 {
				t.Errorf("a refused redirect was retried: %d requests", c.Stats.Requests.Load())
			}
		})
	}
	if other.tok.Load() != 0 {
		t.Fatal("the token reached another origin")
	}
}

// Later in a run a refused redirect fails the request (so its scope), not the run.
func TestRedirectAfterFirstRequestFailsOnlyThatRequest(t *testing.T) {
	other := newCatcher(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/projects/2") {
			http.Redirect(w, r, other.srv.URL+"/sso", http.StatusFound)
			return
		}
		fmt.Fprint(w, `{"id":1}`)
	}))
	t.Cleanup(srv.Close)
	c := clientFor(t, srv.URL, nil, nil)
	if _, err := c.Project(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Project(context.Background(), "2")
	if !errors.Is(err, ErrRedirect) || errors.Is(err, ErrWrongOrigin) {
		t.Fatalf("err = %v, want ErrRedirect without ErrWrongOrigin", err)
	}
	if other.hits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

// A redirect within the origin (a trailing-slash fix-up, say) is followed.
func TestSameOriginRedirectIsFollowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/moved") {
			http.Redirect(w, r, "/api/v4/projects/moved", http.StatusMovedPermanently)
			return
		}
		if r.Header.Get("PRIVATE-TOKEN") != testToken {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, `{"id":9}`)
	}))
	t.Cleanup(srv.Close)
	p, err := clientFor(t, srv.URL, nil, nil).Project(context.Background(), "1")
	if err != nil || p.ID != 9 {
		t.Fatalf("project %+v, err %v", p, err)
	}
}

// Error bodies are bounded, cleaned and redacted before they become error text.
func TestErrorBodiesAreExcerptedCleanedAndRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "echo: PRIVATE-TOKEN: %s \x1b[31mred\x1b[0m\nlevel=ERROR msg=forged other=glptt-abcdef123456 %s",
			r.Header.Get("PRIVATE-TOKEN"), strings.Repeat("x", 1<<20))
	}))
	t.Cleanup(srv.Close)
	_, err := clientFor(t, srv.URL, nil, nil).Project(context.Background(), "1")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, bad := range []string{testToken, "\x1b", "\n", "glptt-abcdef"} {
		if strings.Contains(msg, bad) {
			t.Errorf("error text contains %q: %q", bad, msg)
		}
	}
	if len(msg) > 1000 {
		t.Errorf("error text is %d bytes; want an excerpt", len(msg))
	}
	if !strings.Contains(msg, "400") {
		t.Errorf("error %q does not name the status", msg)
	}
}

// A gzip bomb: about 1 MB on the wire that inflates to 1 GiB. The cap
// applies after decompression, so the client reads max_response_bytes and
// stops; the heap never holds the inflated body.
func TestGzipBombIsCappedAfterDecompression(t *testing.T) {
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zw.Write([]byte("["))
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range 1024 {
		zw.Write(chunk)
	}
	zw.Write([]byte("]"))
	zw.Close()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		w.Write(bomb.Bytes())
	}))
	t.Cleanup(srv.Close)
	c := clientFor(t, srv.URL, nil, func(o *Options) { o.MaxResponseBytes = 8 << 20 })
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := listAll(context.Background(), c, "projects/1/events", nil, func([]Event) error { return nil })
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrGaveUp) {
		t.Fatalf("err = %v, want ErrTooLarge after retries", err)
	}
	if served.Load() != 3 {
		t.Errorf("served %d times, want max_attempts (3)", served.Load())
	}
	// Three attempts of at most 8 MiB each, plus slack: nowhere near 1 GiB.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 200<<20 {
		t.Errorf("allocated %d MiB reading a capped bomb", grew>>20)
	}
	if bomb.Len() > 2<<20 {
		t.Logf("bomb is %d bytes compressed", bomb.Len())
	}
}

func TestMalformedLinkHeaderIsABadAnswerNotAPanic(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "<x>; rel")
		fmt.Fprintf(w, "["+okEvent+"]", 1)
	}))
	t.Cleanup(srv.Close)
	err := listAll(context.Background(), clientFor(t, srv.URL, nil, nil), "projects/1/events", nil, func([]Event) error { return nil })
	if !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), "Link") {
		t.Fatalf("err = %v, want a bad answer naming the Link header", err)
	}
}

func TestUnreadableNextPageIsNotTheEnd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Next-Page", "two")
		fmt.Fprintf(w, "["+okEvent+"]", 1)
	}))
	t.Cleanup(srv.Close)
	err := listAll(context.Background(), clientFor(t, srv.URL, nil, nil), "projects/1/events", nil, func([]Event) error { return nil })
	if !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("err = %v, want ErrBadAnswer", err)
	}
}

// Rows without the fields their key needs, and null bodies, are bad
// answers: retried, then an error naming the row; nothing reaches fn.
func TestRowsWithoutKeysAndNullBodiesAreRefused(t *testing.T) {
	cases := map[string]struct{ path, body, want string }{
		"event id null":        {"projects/1/events", `[{"id":null,"created_at":"2024-01-01T00:00:00Z"}]`, "no id"},
		"event id missing":     {"projects/1/events", `[{"created_at":"2024-01-01T00:00:00Z"}]`, "no id"},
		"event id 0":           {"projects/1/events", `[{"id":0,"created_at":"2024-01-01T00:00:00Z"}]`, "no id"},
		"event created_at":     {"projects/1/events", `[{"id":5}]`, "no created_at"},
		"event author id":      {"projects/1/events", `[{"id":5,"created_at":"2024-01-01T00:00:00Z","author":{"id":null}}]`, "author has no id"},
		"issue iid":            {"projects/1/issues", `[{"id":5,"project_id":1,"updated_at":"2024-01-01T00:00:00Z"}]`, "no iid"},
		"issue assignee id":    {"projects/1/issues", `[{"id":5,"iid":1,"project_id":1,"updated_at":"2024-01-01T00:00:00Z","assignees":[{"id":3},{"id":0}]}]`, "issue 5's assignee 2 has no id"},
		"issue milestone id":   {"projects/1/issues", `[{"id":5,"iid":1,"project_id":1,"updated_at":"2024-01-01T00:00:00Z","milestone":{"title":"v1"}}]`, "issue 5's milestone has no id"},
		"mr reviewer id":       {"projects/1/merge_requests", `[{"id":5,"iid":1,"project_id":1,"updated_at":"2024-01-01T00:00:00Z","reviewers":[{"username":"x"}]}]`, "merge request 5's reviewer 1 has no id"},
		"mr merge_user id":     {"projects/1/merge_requests", `[{"id":5,"iid":1,"project_id":1,"updated_at":"2024-01-01T00:00:00Z","merge_user":{"id":-1}}]`, "merge request 5's merge_user has no id"},
		"label event label id": {"x/resource_label_events", `[{"id":5,"created_at":"2024-01-01T00:00:00Z","label":{"name":"x"}}]`, "label has no id"},
		"null body":            {"projects/1/events", `null`, "null body"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var served atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				fmt.Fprint(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			c := clientFor(t, srv.URL, nil, nil)
			called := false
			var err error
			switch {
			case strings.HasSuffix(tc.path, "issues"):
				err = c.Issues(context.Background(), 1, time.Time{}, func([]Issue) error { called = true; return nil })
			case strings.HasSuffix(tc.path, "merge_requests"):
				err = c.MergeRequests(context.Background(), 1, time.Time{}, func([]MergeRequest) error { called = true; return nil })
			case strings.HasSuffix(tc.path, "label_events"):
				err = ResourceEvents(context.Background(), c, Parent{Type: "Issue", ID: 1, IID: 1, ProjectID: 1}, "label",
					func([]LabelEvent) error { called = true; return nil })
			default:
				err = listAll(context.Background(), c, tc.path, nil, func([]Event) error { called = true; return nil })
			}
			if !errors.Is(err, ErrBadAnswer) || !errors.Is(err, ErrGaveUp) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a retried bad answer saying %q", err, tc.want)
			}
			if called {
				t.Error("rows of a bad answer reached the caller")
			}
			if served.Load() != 3 {
				t.Errorf("served %d times, want 3 (retried like a cut-off body)", served.Load())
			}
		})
	}
	// A single object without an id, too: /projects/:id answered by a login page's JSON.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"message":"please log in"}`)
	}))
	t.Cleanup(srv.Close)
	if _, err := clientFor(t, srv.URL, nil, nil).Project(context.Background(), "1"); !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("project without id: err = %v", err)
	}
}

// endless names one more page forever; each page has fresh ids (or, with
// repeat, the same ones).
func endless(repeat bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("page"))
		w.Header().Set("X-Next-Page", strconv.Itoa(n+1))
		id := n
		if repeat {
			id = 1
		}
		fmt.Fprintf(w, "["+okEvent+"]", id)
	}
}

func TestEndlessListingStopsAtMaxPages(t *testing.T) {
	srv := httptest.NewServer(endless(false))
	t.Cleanup(srv.Close)
	c := clientFor(t, srv.URL, nil, func(o *Options) { o.MaxPages = 40 })
	pages := 0
	err := listAll(context.Background(), c, "projects/1/events", nil, func([]Event) error { pages++; return nil })
	if !errors.Is(err, ErrTooManyPages) || !strings.Contains(err.Error(), "40") {
		t.Fatalf("err = %v, want ErrTooManyPages naming the bound", err)
	}
	if pages != 40 || c.Stats.Requests.Load() != 40 {
		t.Fatalf("read %d pages in %d requests, want 40", pages, c.Stats.Requests.Load())
	}
}

func TestRepeatedPageIsRefused(t *testing.T) {
	srv := httptest.NewServer(endless(true))
	t.Cleanup(srv.Close)
	c := clientFor(t, srv.URL, nil, nil)
	err := listAll(context.Background(), c, "projects/1/events", nil, func([]Event) error { return nil })
	if !errors.Is(err, ErrTooManyPages) || !strings.Contains(err.Error(), "previous page") {
		t.Fatalf("err = %v, want a refused repeat", err)
	}
	if c.Stats.Requests.Load() != 2 {
		t.Fatalf("%d requests, want 2", c.Stats.Requests.Load())
	}
}

// A listing whose cursor the server ignores repeats its first page after
// every restart: the same detection ends it.
func TestIgnoredCursorIsRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Next-Page", "2")
		fmt.Fprint(w, `[{"id":1,"iid":1,"project_id":1,"updated_at":"2024-01-01T00:00:00Z"},{"id":2,"iid":2,"project_id":1,"updated_at":"2024-01-02T00:00:00Z"}]`)
	}))
	t.Cleanup(srv.Close)
	c := clientFor(t, srv.URL, nil, nil)
	err := c.Issues(context.Background(), 1, time.Time{}, func([]Issue) error { return nil })
	if !errors.Is(err, ErrTooManyPages) {
		t.Fatalf("err = %v, want ErrTooManyPages", err)
	}
}

func TestLongWaitsFailInsteadOfSleeping(t *testing.T) {
	cases := map[string]func(h http.Header){
		"Retry-After seconds": func(h http.Header) { h.Set("Retry-After", "999999") },
		"Retry-After date": func(h http.Header) {
			h.Set("Retry-After", time.Now().Add(48*time.Hour).UTC().Format(http.TimeFormat))
		},
	}
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				set(w.Header())
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			t.Cleanup(srv.Close)
			c := clientFor(t, srv.URL, nil, nil)
			start := time.Now()
			_, err := c.Project(context.Background(), "1")
			if !errors.Is(err, ErrWaitTooLong) || !strings.Contains(err.Error(), "gitlab.max_wait") {
				t.Fatalf("err = %v, want ErrWaitTooLong", err)
			}
			if name == "Retry-After seconds" && !strings.Contains(err.Error(), "277h46m39s") {
				t.Errorf("error %q does not say how long the server asked for", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
	// RateLimit-Reset is an instant on the server's clock: an hour ahead
	// of the server's Date is too long, whatever the local clock says.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serverNow := time.Now().Add(-72 * time.Hour) // a server whose clock is three days behind
		w.Header().Set("Date", serverNow.UTC().Format(http.TimeFormat))
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(serverNow.Add(time.Hour).Unix(), 10))
		fmt.Fprint(w, `{"id":1}`)
	}))
	t.Cleanup(srv.Close)
	_, err := clientFor(t, srv.URL, nil, func(o *Options) { o.MaxWait = 10 * time.Minute }).Project(context.Background(), "1")
	// Date has whole seconds: the wait is an hour less a fraction.
	if !errors.Is(err, ErrWaitTooLong) || !strings.Contains(err.Error(), "1h0m0s") && !strings.Contains(err.Error(), "59m59s") {
		t.Fatalf("err = %v, want ErrWaitTooLong of about an hour", err)
	}
}

func TestServerNowFollowsDateHeader(t *testing.T) {
	ahead := 90 * time.Minute
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(ahead).UTC().Format(http.TimeFormat))
		fmt.Fprint(w, `{"id":1}`)
	}))
	t.Cleanup(srv.Close)
	c := clientFor(t, srv.URL, nil, nil)
	if _, err := c.Project(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	if d := c.ServerNow().Sub(time.Now().Add(ahead)); d < -2*time.Second || d > 2*time.Second {
		t.Fatalf("ServerNow is %s off the server's clock", d)
	}
}

func TestCurrentUserEventsSendNoScope(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("scope") {
			t.Errorf("/events asked with scope=%q: that widens to every project", r.URL.Query().Get("scope"))
		}
		fmt.Fprint(w, `[]`)
	}))
	t.Cleanup(srv.Close)
	err := clientFor(t, srv.URL, nil, nil).Events(context.Background(), EventSource{Kind: "current_user"}, time.Time{}, func([]Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
}
