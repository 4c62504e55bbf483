package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/internal/testkit"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
	"github.com/labtrail/labtrail/load"
)

const token = "glpat-TEST-TOKEN-must-never-be-written"

// harness is a fake GitLab plus a warehouse directory, and the pieces to
// run labtrail between them and compare the outcome with the server's data.
type harness struct {
	t       testing.TB
	batch   int // rows per commit; small in tests to exercise batching
	fake    *gitlabfake.Server
	srv     *httptest.Server
	dir     string
	cfg     *config.Config
	logs    *testkit.SyncBuffer
	handler http.Handler // wraps fake; tests may swap in fault injectors
	mu      sync.Mutex
	last    Report // the last run's report
}

func smallScale() gitlabfake.Scale {
	// Enough parents that a day of activity touches a realistic share of
	// them (comments bump updated_at too), and one project past 10,000
	// events so that totals are omitted.
	s := gitlabfake.DefaultScale()
	s.BigProjectEvents = 10_050
	s.IssuesPerProject = 150
	s.MRsPerProject = 60
	return s
}

func newHarness(t testing.TB, opts gitlabfake.Options, pipelineYAML string) *harness {
	t.Helper()
	if opts.Token == "" {
		opts.Token = token
	}
	if opts.RateLimitPerMinute == 0 {
		opts.RateLimitPerMinute = 1_000_000
	}
	h := &harness{t: t, fake: gitlabfake.New(opts), dir: t.TempDir(), logs: &testkit.SyncBuffer{}, batch: 700}
	h.handler = h.fake
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		next := h.handler
		h.mu.Unlock()
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	doc := fmt.Sprintf("gitlab:\n  url: %s\n  token_env: LABTRAIL_TEST_TOKEN\n  concurrency: 4\n  max_attempts: 10\n  timeout: 20s\nwarehouse:\n  duckdb: %s\n  parquet: %s\npipelines:\n%s",
		h.srv.URL, filepath.Join(h.dir, "gitlab.duckdb"), filepath.Join(h.dir, "parquet"), pipelineYAML)
	cfg, err := config.Parse([]byte(doc), func(k string) (string, bool) { return token, k == "LABTRAIL_TEST_TOKEN" })
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = cfg
	return h
}

func (h *harness) setHandler(x http.Handler) {
	h.mu.Lock()
	h.handler = x
	h.mu.Unlock()
}

// run performs one labtrail run through the same Job as `labtrail run` and
// returns its result, its client and its fatal error.
func (h *harness) run(ctx context.Context) (Result, *extract.Client, error) {
	h.t.Helper()
	return h.runWith(ctx, nil)
}

// runWith is run with a hook that may change the Job before it runs.
func (h *harness) runWith(ctx context.Context, tweak func(*Job)) (Result, *extract.Client, error) {
	h.t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	var client *extract.Client
	j := Job{Config: h.cfg, Token: token, Mem: mem, Counters: NewCounters(), BatchRows: h.batch,
		BackoffBase: 5 * time.Millisecond,
		Log:         slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Watch:       func(c *extract.Client) func() { client = c; return func() {} }}
	if tweak != nil {
		tweak(&j)
	}
	rep, err := j.Run(ctx)
	if err != nil {
		h.t.Fatalf("job did not start: %v", err)
	}
	h.mu.Lock()
	h.last = rep
	h.mu.Unlock()
	mem.AssertSize(h.t, 0)
	return Result{Rows: rep.Record.Rows, Failures: rep.Failures, FutureRows: rep.Record.FutureRows}, client, rep.Err
}

// mustRun runs and fails the test on a fatal error or a failed scope.
func (h *harness) mustRun() (Result, *extract.Client) {
	h.t.Helper()
	res, c, err := h.run(context.Background())
	if err != nil {
		h.t.Fatalf("run: %v\nlogs:\n%s", err, tail(h.logs.String(), 40))
	}
	if len(res.Failures) > 0 {
		h.t.Fatalf("failures: %+v\nlogs:\n%s", res.Failures, tail(h.logs.String(), 40))
	}
	return res, c
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (h *harness) checkExact(s wt.Scope) {
	h.t.Helper()
	h.withDB(func(db *sql.DB) {
		wt.CheckExact(h.t, db, h.cfg.Warehouse.Parquet, h.fake.Data(), s)
		wt.CheckDimensions(h.t, db)
	})
}

// withDB opens the warehouse read-only for fn and closes it after: DuckDB
// refuses a read-write open in the same process while it is open.
func (h *harness) withDB(fn func(db *sql.DB)) {
	h.t.Helper()
	db, err := load.OpenReadOnly(context.Background(), h.cfg.Warehouse.DuckDB)
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	fn(db)
}

// exec runs a statement on the warehouse between runs (tests that
// simulate what an older labtrail left behind).
func (h *harness) exec(q string) {
	h.t.Helper()
	db, err := sql.Open("duckdb", h.cfg.Warehouse.DuckDB)
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
}

func (h *harness) query(q string) []string {
	var out []string
	h.withDB(func(db *sql.DB) { out = wt.RowsOf(h.t, db, q) })
	return out
}
