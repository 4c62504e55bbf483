package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
	"github.com/labtrail/labtrail/load"
)

// The end-to-end tests run labtrail as a separate process (this test binary
// re-executed), so that kill -9, signals, exit codes and the warehouse lock
// are real.
func TestMain(m *testing.M) {
	if os.Getenv("LABTRAIL_E2E_EXEC") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const e2eToken = "glpat-E2E-secret-token-value"

type e2e struct {
	t    *testing.T
	fake *gitlabfake.Server
	dir  string
	cfg  string
	pq   string // the Parquet tree checkExact reads: wh/parquet, or a bucket's copy
}

func newE2E(t *testing.T, opts gitlabfake.Options) *e2e {
	t.Helper()
	if opts.Token == "" {
		opts.Token = e2eToken
	}
	if opts.RateLimitPerMinute == 0 {
		opts.RateLimitPerMinute = 1_000_000
	}
	if opts.Scale == (gitlabfake.Scale{}) {
		opts.Scale = gitlabfake.DefaultScale()
		opts.Scale.BigProjectEvents = 3000
	}
	fake := gitlabfake.New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pipelines.yaml")
	doc := fmt.Sprintf(`gitlab:
  url: %s
  token_env: E2E_GITLAB_TOKEN
  concurrency: 4
warehouse:
  duckdb: wh/gitlab.duckdb
  parquet: wh/parquet
pipelines:
  - name: acme
    groups: [acme]
    projects: [freeorg/tool]
    users: [alice]
    current_user: true
    since: 2024-01-01
`, srv.URL)
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return &e2e{t: t, fake: fake, dir: dir, cfg: cfg, pq: filepath.Join(dir, "wh/parquet")}
}

// cmd prepares labtrail with args; token is the value of E2E_GITLAB_TOKEN.
func (e *e2e) cmd(token string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	c := exec.Command(os.Args[0], args...)
	c.Env = append(os.Environ(), "LABTRAIL_E2E_EXEC=1", "E2E_GITLAB_TOKEN="+token)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	return c, &out, &errb
}

// labtrail runs to completion and returns exit code, stdout and stderr.
func (e *e2e) labtrail(args ...string) (int, string, string) {
	e.t.Helper()
	c, out, errb := e.cmd(e2eToken, args...)
	err := c.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.t.Fatal(err)
	}
	return c.ProcessState.ExitCode(), out.String(), errb.String()
}

func (e *e2e) mustRun() {
	e.t.Helper()
	code, _, stderr := e.labtrail("run", "-c", e.cfg, "--no-progress")
	if code != exitOK {
		e.t.Fatalf("run exited %d:\n%s", code, lastLines(stderr, 30))
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

func (e *e2e) requests() int {
	n := 0
	for _, v := range e.fake.Requests() {
		n += v
	}
	return n
}

func (e *e2e) checkExact() {
	e.t.Helper()
	db, err := load.OpenReadOnly(context.Background(), filepath.Join(e.dir, "wh/gitlab.duckdb"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	d := e.fake.Data()
	wt.CheckExact(e.t, db, e.pq, d,
		wt.ScopeOf(d, []string{"acme"}, []string{"freeorg/tool"}, []string{"alice", "root"}))
	wt.CheckDimensions(e.t, db)
}

// startAndStop starts a run and sends sig once the server has answered
// afterRequests more requests; it returns the exit code and how long the
// process took to exit after the signal. extra are more flags for run.
func (e *e2e) startAndStop(sig syscall.Signal, afterRequests int, extra ...string) (int, time.Duration) {
	e.t.Helper()
	c, _, errb := e.cmd(e2eToken, append([]string{"run", "-c", e.cfg, "--no-progress"}, extra...)...)
	base := e.requests()
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	for e.requests()-base < afterRequests {
		select {
		case <-done:
			e.t.Logf("run ended before %d requests:\n%s", afterRequests, lastLines(errb.String(), 5))
			return c.ProcessState.ExitCode(), 0
		case <-time.After(2 * time.Millisecond):
		}
	}
	sent := time.Now()
	if err := c.Process.Signal(sig); err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = c.Process.Kill()
		e.t.Fatalf("labtrail did not exit within 60 s of %v", sig)
	}
	return c.ProcessState.ExitCode(), time.Since(sent)
}

// Issue 4: after new activity, three runs killed with kill -9 at
// different moments, then one plain run: every table exact. The first
// (backfill) run is killed too, while its big events listings are read in
// day windows.
func TestKill9ThenPlainRunIsExact(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 11})
	e.startAndStop(syscall.SIGKILL, 150)
	e.mustRun()
	e.fake.AddActivity(12)
	for _, after := range []int{3, 90, 400} {
		e.startAndStop(syscall.SIGKILL, after)
		e.fake.AddActivity(int64(after))
	}
	e.mustRun()
	e.checkExact()
	wt.NoTokenIn(t, e.dir, "", e2eToken)
}

func TestSIGTERMStopsCleanlyAndExitsNonZero(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 12})
	code, took := e.startAndStop(syscall.SIGTERM, 60)
	if code != exitInterrupted {
		t.Errorf("exit code %d after SIGTERM, want %d", code, exitInterrupted)
	}
	// How fast is measured, not asserted (tests run on loaded machines);
	// startAndStop fails the test past 60 s.
	t.Logf("stopped %v after SIGTERM", took)
	e.mustRun()
	e.checkExact()
	db, err := load.OpenReadOnly(context.Background(), filepath.Join(e.dir, "wh/gitlab.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	outcomes := wt.RowsOf(t, db, "SELECT outcome FROM _labtrail_runs")
	if strings.Join(outcomes, ",") != "interrupted,success" {
		t.Errorf("run records: %v, want one interrupted and one success", outcomes)
	}
}

func TestSecondLabtrailOnTheSameWarehouseRefuses(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 13, RateLimit: 40})
	first, _, _ := e.cmd(e2eToken, "run", "-c", e.cfg, "--no-progress")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Process.Kill(); _ = first.Wait() }()
	for e.requests() < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	code, _, stderr := e.labtrail("run", "-c", e.cfg, "--no-progress")
	if code != exitLocked || !strings.Contains(stderr, "another labtrail") {
		t.Fatalf("second run: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestWrongTokenFailsFastWithoutPrintingIt(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 14, Token: "the-right-token"})
	start := time.Now()
	code, out, stderr := e.labtrail("run", "-c", e.cfg)
	if code != exitToken {
		t.Fatalf("exit %d, want %d:\n%s", code, exitToken, stderr)
	}
	if time.Since(start) > 60*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if !strings.Contains(stderr, "token") || !strings.Contains(stderr, "E2E_GITLAB_TOKEN") {
		t.Errorf("stderr does not explain the token problem:\n%s", stderr)
	}
	if strings.Contains(out+stderr, e2eToken) {
		t.Error("the token was printed")
	}
	wt.NoTokenIn(t, e.dir, out+stderr, e2eToken)
}

func TestValidateNamesEveryProblem(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 1})
	bad := filepath.Join(e.dir, "bad.yaml")
	doc := "gitlab:\n  url: https://gitlab.example.com\n  token_env: E2E_GITLAB_TOKEN\n  tokn: x\npipelines:\n  - name: a\n    projects: [x/y]\n    since: 2024-02-30\n"
	if err := os.WriteFile(bad, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := e.labtrail("validate", "-c", bad)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"gitlab.tokn: unknown key", "pipelines[0].since: not a date"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code, out, _ := e.labtrail("validate", "-c", e.cfg); code != exitOK || !strings.Contains(out, "is valid") {
		t.Errorf("valid config: exit %d, %s", code, out)
	}
}

// Issue 5: `labtrail sql` prints the right count, and its CSV loads back
// into DuckDB.
func TestSQLCommand(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 15})
	e.mustRun()
	db, err := load.OpenReadOnly(context.Background(), filepath.Join(e.dir, "wh/gitlab.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	want := wt.RowsOf(t, db, "SELECT count(*) FROM label_events")[0]
	db.Close()
	code, out, stderr := e.labtrail("sql", "-c", e.cfg, "SELECT count(*) FROM label_events")
	if code != exitOK || !strings.Contains(out, " "+want+"\n") && !strings.Contains(out, "\n"+want+"\n") {
		t.Fatalf("exit %d, want count %s in:\n%s%s", code, want, out, stderr)
	}
	code, out, stderr = e.labtrail("sql", "-c", e.cfg, "--format", "csv", "SELECT id, label_name, created_at, user_id FROM label_events ORDER BY id")
	if code != exitOK {
		t.Fatalf("csv: exit %d: %s", code, stderr)
	}
	csvPath := filepath.Join(e.dir, "out.csv")
	if err := os.WriteFile(csvPath, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	mem, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	got := wt.RowsOf(t, mem, "SELECT count(*), count(DISTINCT id), count(label_name), count(user_id) FROM read_csv('"+csvPath+"', header = true)")
	db, _ = load.OpenReadOnly(context.Background(), filepath.Join(e.dir, "wh/gitlab.duckdb"))
	defer db.Close()
	wantCSV := wt.RowsOf(t, db, "SELECT count(*), count(DISTINCT id), count(label_name), count(user_id) FROM label_events")
	if strings.Join(got, "") != strings.Join(wantCSV, "") {
		t.Errorf("CSV loaded back: %v, want %v", got, wantCSV)
	}
	code, out, _ = e.labtrail("status", "-c", e.cfg)
	if code != exitOK || !strings.Contains(out, "label_events") || !strings.Contains(out, "Watermarks") || !strings.Contains(out, "Availability") {
		t.Errorf("status: exit %d:\n%s", code, out)
	}
}

// --summary writes the run record as JSON for schedulers, --log-format json
// makes every log line a JSON object, and `sql` without a query reads
// statements from stdin.
func TestSummaryJSONLogsAndSQLFromStdin(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 16})
	summary := filepath.Join(e.dir, "run.json")
	code, _, stderr := e.labtrail("run", "-c", e.cfg, "--log-format", "json", "--summary", summary)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, lastLines(stderr, 20))
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
	}
	var rec struct {
		RunID    string
		Outcome  string
		Rows     map[string]int64
		Requests int64
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("summary: %v\n%s", err, b)
	}
	if rec.RunID == "" || rec.Outcome != "success" || rec.Rows["events"] == 0 || rec.Requests == 0 {
		t.Errorf("summary = %+v", rec)
	}

	c, out, errb := e.cmd(e2eToken, "sql", "-c", e.cfg, "--format", "csv")
	c.Stdin = strings.NewReader("SELECT count(*) AS n\n  FROM events;\nSELECT outcome FROM _labtrail_runs;\n")
	if err := c.Run(); err != nil {
		t.Fatalf("sql from stdin: %v\n%s", err, errb)
	}
	want := fmt.Sprintf("n\n%d\noutcome\nsuccess\n", rec.Rows["events"])
	if out.String() != want {
		t.Errorf("sql from stdin printed %q, want %q", out.String(), want)
	}
}
