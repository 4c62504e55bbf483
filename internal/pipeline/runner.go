// Package pipeline runs labtrail's pipelines: it resolves each pipeline's
// scopes, splits the work into units (one Events API source, or one parent
// listing with its resource-event families), runs the units on a bounded
// pool, and hands Arrow batches to the warehouse, advancing each unit's
// watermarks only in the transaction that stores its last rows.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// Runner holds what every unit of a run shares.
type Runner struct {
	Client      *extract.Client
	Warehouse   *load.Warehouse
	Mem         memory.Allocator
	Log         *slog.Logger
	Meta        transform.Meta
	Concurrency int
	// BatchRows is how many rows a unit gathers before it stores them (the
	// granularity of crash recovery); the run holds heldBatches times as
	// many in memory at most, all units together. 0: defaultBatchRows.
	BatchRows int
	// MaxParentRows bounds the resource events one parent may have in one
	// family; a server that goes past it fails the scope. 0: 1,000,000,
	// far above any real issue's history.
	MaxParentRows int
	Counters      *Counters // may be nil
	// Shard is this process's part of a sharded run; zero reads every
	// scope.
	Shard Shard
	// Refresh names the parent tables (issues, merge_requests, epics) to
	// list in full, from since, whatever their watermarks: their stored
	// rows predate columns added since (load.Warehouse.Refreshes).
	Refresh map[string]bool

	mu     sync.Mutex
	rows   map[string]int64
	failed []Failure
	warned map[string]bool
	ahead  int64 // rows dated past the server's clock, see future
	// names resolves the usernames system notes name (see usernames);
	// made on first use, one per run.
	resolver *usernames
	budget   *rowBudget // fact rows held in memory, see heldBatches
}

// clockSkew is how far past the server's clock (its Date header) a row may
// be dated and still move a watermark: servers and their database hosts
// disagree by seconds, not minutes.
const clockSkew = 5 * time.Minute

// errTooManyRows: a parent had more resource events than MaxParentRows.
var errTooManyRows = errors.New("parent does not end")

// future reports whether a row dated t (a stream's watermark column) lies
// past the server's own clock plus clockSkew. Such a row (a clock running
// fast, an import with wrong dates) is stored, but a watermark moved to it
// would make every later run ask only for rows after that date and so
// never export real new ones. It is counted for the run record and warned
// about once per pipeline, scope and stream.
func (r *Runner) future(pipeline, scope, stream string, t time.Time) bool {
	limit := r.Client.ServerNow().Add(clockSkew)
	if !t.After(limit) {
		return false
	}
	r.mu.Lock()
	r.ahead++
	r.mu.Unlock()
	r.warnOnce(pipeline, scope, stream+"#future", "rows dated after the server's clock: stored, but the watermark stays before them so that newer rows are still found",
		fmt.Errorf("%s is after the server's %s", t.UTC().Format(time.RFC3339), limit.Add(-clockSkew).UTC().Format(time.RFC3339)))
	return true
}

// Failure is a scope that failed for good in this run. Its watermarks were
// left where they were, so the next run retries it.
type Failure struct {
	Pipeline string
	Scope    string
	Err      error
}

// Result summarises a run.
type Result struct {
	Rows     map[string]int64 // rows added per table
	Failures []Failure
	// FutureRows counts rows read that were dated past the server's clock
	// (stored, but not allowed to move a watermark).
	FutureRows int64
}

// fatalError marks errors that end the whole run: a rejected token, a
// warehouse that cannot store, a cancelled context. Everything else fails
// only its scope.
type fatalError struct{ err error }

func (f fatalError) Error() string { return f.err.Error() }
func (f fatalError) Unwrap() error { return f.err }

func fatal(err error) error {
	if err == nil {
		return nil
	}
	var fe fatalError
	if errors.As(err, &fe) {
		return err
	}
	return fatalError{err}
}

func isFatal(ctx context.Context, err error) bool {
	var fe fatalError
	return errors.As(err, &fe) || ctx.Err() != nil ||
		errors.Is(err, extract.ErrUnauthorized) || errors.Is(err, extract.ErrWrongOrigin) || errors.Is(err, extract.ErrWaitTooLong)
}

// trusted returns a stored watermark unless it lies in the future (written
// by a labtrail before watermarks were checked against the server's clock):
// such a watermark is dropped, with a warning, so that the stream is read
// again from since and the rows it hid are found; the re-read ones are
// dropped by id.
func (r *Runner) trusted(k load.WatermarkKey, wm time.Time, ok bool) (time.Time, bool) {
	if !ok || !wm.After(r.Client.ServerNow().Add(clockSkew)) {
		return wm, ok
	}
	r.Log.Warn("stored watermark is in the future; reading the stream again from since",
		"pipeline", k.Pipeline, "scope", k.Scope, "stream", k.Stream, "watermark", wm.UTC().Format(time.RFC3339))
	return time.Time{}, false
}

// guarded runs fn and turns a panic into a fatal error, so that a bug (or
// a library failing on input nobody foresaw) ends the run like any other
// fatal error: with a run record and exit 1, not a stack trace and exit 2.
// The stack goes to the log, not into the run record.
func (r *Runner) guarded(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.Log.Error("internal error", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fatal(fmt.Errorf("internal error: %v", p))
		}
	}()
	return fn()
}

// Run runs every pipeline of cfg. It returns an error only for fatal
// problems (a panic inside the run included); scopes that failed on their
// own are listed in the Result.
func (r *Runner) Run(ctx context.Context, cfg *config.Config) (res Result, err error) {
	err = r.guarded(func() error {
		res, err = r.run(ctx, cfg)
		return err
	})
	if err != nil && res.Rows == nil {
		res = r.result()
	}
	return res, err
}

func (r *Runner) run(ctx context.Context, cfg *config.Config) (Result, error) {
	r.rows = map[string]int64{}
	r.warned = map[string]bool{}
	r.failed, r.ahead = nil, 0
	if r.BatchRows <= 0 {
		r.BatchRows = defaultBatchRows
	}
	r.budget = newRowBudget(heldBatches * r.BatchRows)
	if r.MaxParentRows <= 0 {
		r.MaxParentRows = 1_000_000
	}
	if r.Concurrency <= 0 {
		return Result{}, errors.New("pipeline: Runner.Concurrency must be positive")
	}
	// Only activity names users by username; a run without it need not
	// read the users dimension.
	if slices.ContainsFunc(cfg.Pipelines, func(pl config.Pipeline) bool { return pl.HasStream(schemas.ActivityStream) }) {
		if err := r.names().seed(ctx); err != nil {
			return Result{}, fatal(err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.Concurrency)
	for _, pl := range cfg.Pipelines {
		units, err := r.plan(gctx, pl)
		if err != nil {
			// A unit's fatal error cancels gctx and so fails plan too;
			// report the cause, not the cancellation.
			if werr := g.Wait(); werr != nil {
				err = werr
			}
			return r.result(), err
		}
		for _, u := range units {
			g.Go(func() error {
				err := r.guarded(func() error { return u.run(gctx) })
				if err == nil {
					return nil
				}
				if isFatal(gctx, err) {
					return err
				}
				r.fail(pl.Name, u.scope, err)
				return nil
			})
		}
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return r.result(), err
}

func (r *Runner) result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	rows := make(map[string]int64, len(r.rows))
	for k, v := range r.rows {
		rows[k] = v
	}
	return Result{Rows: rows, Failures: append([]Failure(nil), r.failed...), FutureRows: r.ahead}
}

func (r *Runner) fail(pipeline, scope string, err error) {
	r.Log.Error("scope failed; its watermarks stay where they were", "pipeline", pipeline, "scope", scope, "err", err)
	r.mu.Lock()
	r.failed = append(r.failed, Failure{Pipeline: pipeline, Scope: scope, Err: err})
	r.mu.Unlock()
}

// warnOnce logs a skipped stream once per pipeline, scope and stream.
func (r *Runner) warnOnce(pipeline, scope, stream, msg string, err error) {
	k := pipeline + "\x00" + scope + "\x00" + stream
	r.mu.Lock()
	seen := r.warned[k]
	r.warned[k] = true
	r.mu.Unlock()
	if !seen {
		r.Log.Warn(msg, "pipeline", pipeline, "scope", scope, "stream", stream, "err", err)
	}
}

// defaultBatchRows is a batch's size when the Job sets none. A bigger
// batch pays a store's fixed costs (a transaction, a cache trim, an id
// lookup, a Parquet file per month: about 38 ms) for more rows, but DuckDB
// and the Parquet encoder hold more at once. Measured on 2 December 2026
// (BenchmarkPeakRSS, 10x first run): 5,000 rows peaked at 251 to 259 MiB
// over seven runs once counted windows were read page by page (their
// batches were no longer cut short every four windows of 8 pages), 3,500
// rows at 249 to 250 over three; the 189,934-event project at concurrency
// 32 went from 1.72 to 1.84 x the ideal, the other latency figures stayed
// within the noise.
const defaultBatchRows = 3500

// unit is one independently restartable piece of work.
type unit struct {
	scope string
	run   func(ctx context.Context) error
}

// flush stores what b and refs hold, with marks; see cut.
func (r *Runner) flush(ctx context.Context, b *transform.Builder, refs *transform.Referenced, marks ...load.Mark) error {
	c, err := r.cut(b, refs, marks...)
	if err != nil {
		return err
	}
	defer c.release()
	return r.store(ctx, c)
}

// full reports whether b should be stored before more rows are added: it
// holds a batch, or a string column nears Arrow's 2 GiB offset limit.
func (r *Runner) full(b *transform.Builder) bool { return b.Len() >= r.BatchRows || b.Full() }

func (r *Runner) flushRefs(ctx context.Context, refs *transform.Referenced) error {
	return r.flush(ctx, nil, refs)
}

// upsert stores dimension rows built by fill.
func (r *Runner) upsert(ctx context.Context, t schemas.Table, fill func(b *transform.Builder)) error {
	b := transform.NewBuilder(r.Mem, t, r.Meta)
	defer b.Release()
	fill(b)
	if b.Len() == 0 {
		return nil
	}
	if err := b.Err(); err != nil {
		return fmt.Errorf("building %s rows: %w", t.Name, err)
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := r.Warehouse.UpsertDimension(ctx, t, rec); err != nil {
		return fatal(fmt.Errorf("storing %s: %w", t.Name, err))
	}
	return nil
}
