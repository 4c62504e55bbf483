package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
	"github.com/labtrail/labtrail/load"
)

// The hostile-server suite: labtrail as a separate process against a
// GitLab-faithful fake wrapped by one misbehaviour at a time, each with its
// expected outcome: nothing sent to another host, nothing lost silently,
// bounded memory and time, the right exit code and a run record. Every
// server is on 127.0.0.1; every loop in them is ended by labtrail's own
// bounds, or by the case's deadline, which fails the test.
//
// LABTRAIL_HOSTILE_BIN=path runs another labtrail binary (an older build)
// through the same cases, to measure it; its failures are expected then.

const hostileToken = "glpat-HOSTILE-secret-token-0123456789"

// peakRSSLimit is the issue's bound on any run, whatever the server sends.
const peakRSSLimit = 500 << 20

type hostile struct {
	name string
	// wrap puts the misbehaviour in front of the fake. tool is the id of
	// freeorg/tool, the project most cases attack; other is a second
	// origin that must never be reached.
	wrap func(next http.Handler, tool int64, other string) http.Handler
	// gitlab is extra YAML under gitlab:.
	gitlab string
	token  string // "" = hostileToken
	args   []string
	code   int
	// want are substrings of the run record's error (or of stderr for exit 2).
	want []string
	// check runs after the common checks.
	check func(t *testing.T, r *hostileRun)
}

type hostileRun struct {
	code     int
	stderr   string
	took     time.Duration
	rss      int64 // peak resident bytes
	requests int64
	dir      string
	record   map[string]any // the --summary JSON
	other    *otherOrigin
	fake     *gitlabfake.Server
}

// otherOrigin stands for the host a redirect points at.
type otherOrigin struct {
	srv        *httptest.Server
	hits, auth atomic.Int64
}

func onPath(re string, h http.HandlerFunc, next http.Handler) http.Handler {
	rx := regexp.MustCompile(re)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rx.MatchString(r.URL.Path) {
			h(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func toolEvents(tool int64) string { return fmt.Sprintf(`^/api/v4/projects/%d/events$`, tool) }

// rewrite serves the fake's answer for matching paths after fn changed the body.
func rewrite(re string, next http.Handler, fn func(body []byte, r *http.Request) []byte) http.Handler {
	return onPath(re, func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(fn(rec.Body.Bytes(), r))
	}, next)
}

var gzipBomb = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write([]byte("["))
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range 1024 { // 1 GiB inflated, about 1 MB on the wire
		zw.Write(chunk)
	}
	zw.Write([]byte("]"))
	zw.Close()
	return b.Bytes()
})

// endlessPage makes an endless listing: every page names one more, with
// fresh rows, later than the last (or, with repeat, the same rows again).
// row renders the row with the given id.
func endlessPage(repeat bool, row func(id int64) string) http.HandlerFunc {
	var served atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.ParseInt(r.URL.Query().Get("page"), 10, 64)
		n := served.Add(1) // fresh rows even when a cursor restarts at page 1
		if repeat {
			n = 1
		}
		w.Header().Set("X-Next-Page", strconv.FormatInt(page+1, 10))
		w.Header().Set("Content-Type", "application/json")
		rows := make([]string, 100)
		for i := range rows {
			rows[i] = row(n*1000 + int64(i) + 1)
		}
		fmt.Fprint(w, "["+strings.Join(rows, ",")+"]")
	}
}

// ts is a timestamp that grows with id, so that a cursor on it moves.
func ts(id int64) string {
	return time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(id) * time.Second).Format(`"2006-01-02T15:04:05.000Z"`)
}

func eventRow(id int64) string {
	return fmt.Sprintf(`{"id":%d,"project_id":1,"action_name":"opened","created_at":%s,"author":{"id":1,"username":"root"}}`, id+50_000_000, ts(id))
}

func issueRow(id int64) string {
	return fmt.Sprintf(`{"id":%d,"iid":%d,"project_id":1,"title":"t","state":"opened","created_at":%s,"updated_at":%s}`, id+50_000_000, id, ts(id), ts(id))
}

func labelEventRow(id int64) string {
	return fmt.Sprintf(`{"id":%d,"created_at":%s,"resource_type":"Issue","resource_id":1,"action":"add","label":null,"user":null}`, id+50_000_000, ts(id))
}

func projectRow(id int64) string {
	return fmt.Sprintf(`{"id":%d,"name":"p","path_with_namespace":"x/p%d"}`, id+50_000_000, id)
}

func hostileCases() []hostile {
	redirectTo := func(target string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) }
	}
	echo := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		var b strings.Builder
		for k, v := range r.Header {
			fmt.Fprintf(&b, "%s: %s\r\n", k, strings.Join(v, ","))
		}
		b.WriteString("\x1b[2J\x1b[31mproxy error\x1b[0m\ntime=2026-01-01T00:00:00Z level=ERROR msg=forged-line\n")
		b.WriteString(strings.Repeat("padding ", 100_000))
		w.Write([]byte(b.String()))
	}
	endless := func(kind, path string, row func(int64) string) hostile {
		return hostile{name: "endless " + kind, gitlab: "  max_pages: 30\n", code: exitPartial, want: []string{"gitlab.max_pages"},
			wrap: func(next http.Handler, tool int64, _ string) http.Handler {
				return onPath(strings.ReplaceAll(path, "TOOL", strconv.FormatInt(tool, 10)), endlessPage(false, row), next)
			}}
	}
	repeating := func(kind, path string, row func(int64) string) hostile {
		return hostile{name: "repeating " + kind, code: exitPartial, want: []string{"previous page"},
			wrap: func(next http.Handler, tool int64, _ string) http.Handler {
				return onPath(strings.ReplaceAll(path, "TOOL", strconv.FormatInt(tool, 10)), endlessPage(true, row), next)
			}}
	}
	const (
		eventsPath   = `^/api/v4/projects/TOOL/events$`
		issuesPath   = `^/api/v4/projects/TOOL/issues$`
		mrsPath      = `^/api/v4/projects/TOOL/merge_requests$`
		labelsPath   = `^/api/v4/projects/TOOL/issues/1/resource_label_events$`
		projectsPath = `^/api/v4/groups/[^/]+/projects$`
	)
	cases := []hostile{
		{name: "redirect on the first request", code: exitFailed, want: []string{"302", "not the configured"},
			wrap: func(next http.Handler, _ int64, other string) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { redirectTo(other+"/users/sign_in")(w, r) })
			},
			check: func(t *testing.T, r *hostileRun) {
				if r.requests != 1 {
					t.Errorf("%d requests, want the run to stop after the first", r.requests)
				}
			}},
		{name: "redirect to another port", code: exitPartial, want: []string{"302", "not the configured"},
			wrap: func(next http.Handler, tool int64, other string) http.Handler {
				return onPath(toolEvents(tool), redirectTo(other+"/api/v4/projects/1/events"), next)
			}},
		{name: "redirect to another host", code: exitPartial, want: []string{"302", "localhost"},
			wrap: func(next http.Handler, tool int64, other string) http.Handler {
				return onPath(toolEvents(tool), redirectTo(strings.Replace(other, "127.0.0.1", "localhost", 1)+"/x"), next)
			}},
		{name: "echoed headers and escape codes", code: exitPartial, want: []string{"502"},
			wrap: func(next http.Handler, tool int64, _ string) http.Handler {
				return onPath(toolEvents(tool), echo, next)
			},
			check: func(t *testing.T, r *hostileRun) {
				errText, _ := r.record["Error"].(string)
				if len(errText) > 2000 {
					t.Errorf("run record error is %d bytes: the body was not excerpted", len(errText))
				}
			}},
		{name: "token with a line feed", token: "glpat-abc\ndef-0123456789", code: exitUsage,
			want: []string{"gitlab.token_env", "control character"},
			check: func(t *testing.T, r *hostileRun) {
				if r.requests != 0 {
					t.Errorf("%d requests sent with a broken token", r.requests)
				}
			}},
		{name: "event id null", code: exitPartial, want: []string{"no id"},
			wrap: func(next http.Handler, tool int64, _ string) http.Handler {
				return rewrite(toolEvents(tool), next, func(b []byte, _ *http.Request) []byte {
					return regexp.MustCompile(`^\[\{"id":\d+`).ReplaceAll(b, []byte(`[{"id":null`))
				})
			}},
		{name: "project without id", code: exitPartial, want: []string{"no id"},
			wrap: func(next http.Handler, tool int64, _ string) http.Handler {
				return rewrite(`^/api/v4/projects/freeorg/tool$`, next, func(b []byte, _ *http.Request) []byte {
					return regexp.MustCompile(`^\{"id":\d+,`).ReplaceAll(b, []byte(`{`))
				})
			}},
		{name: "null body for a listing", code: exitPartial, want: []string{"null body"},
			wrap: func(next http.Handler, tool int64, _ string) http.Handler {
				return rewrite(fmt.Sprintf(`^/api/v4/projects/%d/issues$`, tool), next, func([]byte, *http.Request) []byte { return []byte("null") })
			}},
		{name: "gzip bomb on every events listing", code: exitPartial, want: []string{"gitlab.max_response_bytes"},
			wrap: func(next http.Handler, _ int64, _ string) http.Handler {
				return onPath(`^/api/v4/projects/\d+/events$`, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Encoding", "gzip")
					w.Header().Set("Content-Type", "application/json")
					w.Write(gzipBomb())
				}, next)
			}},
		{name: "oversized plain body", gitlab: "  max_response_bytes: 16777216\n", code: exitPartial, want: []string{"more than 16777216 bytes"},
			wrap: func(next http.Handler, tool int64, _ string) http.Handler {
				return onPath(toolEvents(tool), func(w http.ResponseWriter, r *http.Request) {
					w.Write([]byte("["))
					chunk := bytes.Repeat([]byte(" "), 1<<20)
					for range 100 {
						if _, err := w.Write(chunk); err != nil {
							return
						}
					}
					w.Write([]byte("]"))
				}, next)
			}},
		endless("events", eventsPath, eventRow),
		endless("issues", issuesPath, issueRow),
		endless("merge requests", mrsPath, issueRow),
		endless("resource events", labelsPath, labelEventRow),
		endless("group projects", projectsPath, projectRow),
		repeating("events", eventsPath, eventRow),
		repeating("issues", issuesPath, issueRow),
		repeating("resource events", labelsPath, labelEventRow),
		{name: "huge Retry-After", args: []string{"--quiet"}, code: exitFailed, want: []string{"277h46m39s", "gitlab.max_wait"},
			wrap: func(next http.Handler, tool int64, _ string) http.Handler {
				return onPath(toolEvents(tool), func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", "999999")
					w.WriteHeader(http.StatusTooManyRequests)
				}, next)
			},
			check: func(t *testing.T, r *hostileRun) {
				if !strings.Contains(r.stderr, "277h46m39s") {
					t.Error("under --quiet, stderr does not say how long the server asked to wait")
				}
			}},
		{name: "malformed Link header", code: exitPartial, want: []string{"malformed Link header"},
			wrap: func(next http.Handler, tool int64, _ string) http.Handler {
				return onPath(toolEvents(tool), func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Link", "<x>; rel")
					w.Write([]byte("[]"))
				}, next)
			}},
	}
	return cases
}

func TestHostileServers(t *testing.T) {
	bin := os.Getenv("LABTRAIL_HOSTILE_BIN")
	for _, hc := range hostileCases() {
		t.Run(hc.name, func(t *testing.T) {
			r := runHostile(t, hc, bin)
			t.Logf("%s: exit %d in %.2fs, peak RSS %d MiB, %d requests", hc.name, r.code, r.took.Seconds(), r.rss>>20, r.requests)
			if r.code != hc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, hc.code, lastLines(r.stderr, 15))
			}
			if r.rss > peakRSSLimit {
				t.Errorf("peak RSS %d MiB, over %d MiB", r.rss>>20, peakRSSLimit>>20)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
				t.Errorf("a stack trace on stderr:\n%s", lastLines(r.stderr, 15))
			}
			// Nothing reached the other origin, the token is nowhere.
			if n := r.other.hits.Load(); n != 0 {
				t.Errorf("%d requests reached another origin (%d with credentials)", n, r.other.auth.Load())
			}
			wt.NoTokenIn(t, r.dir, r.stderr, hostileToken)
			for _, line := range strings.Split(r.stderr, "\n") {
				if strings.ContainsAny(line, "\x1b\r") || strings.HasPrefix(line, "time=2026-01-01T00:00:00Z") {
					t.Errorf("a server-forged or raw control line on stderr: %q", line)
				}
			}
			if hc.code == exitUsage {
				for _, w := range hc.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
					}
				}
			} else {
				checkRecord(t, r, hc)
			}
			if hc.check != nil {
				hc.check(t, r)
			}
		})
	}
}

// checkRecord: every run that got past the config has a run record, in the
// warehouse and in --summary, with the expected outcome and a cleaned error;
// and no table holds a row with an invented key.
func checkRecord(t *testing.T, r *hostileRun, hc hostile) {
	t.Helper()
	if r.record == nil {
		t.Fatal("no --summary written")
	}
	errText, _ := r.record["Error"].(string)
	for _, w := range hc.want {
		if !strings.Contains(errText, w) {
			t.Errorf("run record error does not say %q: %q", w, errText)
		}
	}
	if strings.ContainsAny(errText, "\x1b\n\r") {
		t.Errorf("control characters in the run record error: %q", errText)
	}
	db, err := load.OpenReadOnly(context.Background(), filepath.Join(r.dir, "wh/gitlab.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := wt.RowsOf(t, db, "SELECT outcome || '|' || coalesce(error, '') FROM _labtrail_runs")
	if len(rows) != 1 {
		t.Fatalf("run records: %v", rows)
	}
	outcome, stored, _ := strings.Cut(rows[0], "|")
	if outcome != r.record["Outcome"] || stored != errText {
		t.Errorf("warehouse record %q differs from the summary (%v, %q)", rows[0], r.record["Outcome"], errText)
	}
	for _, table := range []string{"events", "projects", "users", "issues", "merge_requests", "label_events"} {
		if bad := wt.RowsOf(t, db, "SELECT count(*) FROM "+table+" WHERE id IS NULL OR id <= 0"); bad[0] != "0" {
			t.Errorf("%s has %s rows with an invented id", table, bad[0])
		}
	}
	if bad := wt.RowsOf(t, db, "SELECT count(*) FROM events WHERE id >= 50000000"); bad[0] != "0" {
		t.Errorf("%s rows of an endless listing were stored as events", bad[0])
	}
}

func runHostile(t *testing.T, hc hostile, bin string) *hostileRun {
	t.Helper()
	scale := gitlabfake.DefaultScale()
	scale.BigProjectEvents = 800
	fake := gitlabfake.New(gitlabfake.Options{Seed: 31, Token: hostileToken, Scale: scale, RateLimitPerMinute: 1_000_000})
	tool := fake.Data().Project("freeorg/tool").ID
	other := &otherOrigin{}
	other.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.hits.Add(1)
		if r.Header.Get("PRIVATE-TOKEN") != "" || r.Header.Get("Authorization") != "" {
			other.auth.Add(1)
		}
		fmt.Fprint(w, `{"message":"sign in"}`)
	}))
	t.Cleanup(other.srv.Close)
	var requests atomic.Int64
	var h http.Handler = fake
	if hc.wrap != nil {
		h = hc.wrap(fake, tool, other.srv.URL)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	if u, _ := url.Parse(srv.URL); u.Hostname() != "127.0.0.1" {
		t.Fatalf("test server on %s, want 127.0.0.1", u.Host)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pipelines.yaml")
	doc := fmt.Sprintf(`gitlab:
  url: %s
  token_env: E2E_GITLAB_TOKEN
  concurrency: 4
  max_attempts: 3
%swarehouse:
  duckdb: wh/gitlab.duckdb
  parquet: wh/parquet
pipelines:
  - name: acme
    groups: [acme]
    projects: [freeorg/tool]
    current_user: true
    since: 2024-01-01
`, srv.URL, hc.gitlab)
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	token := hc.token
	if token == "" {
		token = hostileToken
	}
	summary := filepath.Join(dir, "run.json")
	args := append([]string{"run", "-c", cfg, "--no-progress", "--summary", summary}, hc.args...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var c *exec.Cmd
	if bin != "" {
		c = exec.CommandContext(ctx, bin, args...)
	} else {
		c = exec.CommandContext(ctx, os.Args[0], args...)
	}
	c.Env = append(os.Environ(), "LABTRAIL_E2E_EXEC=1", "E2E_GITLAB_TOKEN="+token)
	var errb bytes.Buffer
	c.Stdout, c.Stderr = &errb, &errb
	start := time.Now()
	err := c.Run()
	r := &hostileRun{took: time.Since(start), stderr: errb.String(), dir: dir, other: other, fake: fake}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Errorf("still running after %s: killed", r.took.Round(time.Second))
	}
	r.code = c.ProcessState.ExitCode()
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rss = ru.Maxrss << 10 // KiB on Linux
	}
	r.requests = requests.Load()
	if b, err := os.ReadFile(summary); err == nil {
		if err := json.Unmarshal(b, &r.record); err != nil {
			t.Errorf("summary is not JSON: %v", err)
		}
	}
	return r
}
