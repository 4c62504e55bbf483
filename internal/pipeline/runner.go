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
	"sync"

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
	// BatchRows is how many rows a unit gathers before it stores them: the
	// bound on memory per unit, and the granularity of crash recovery.
	BatchRows int
	Progress  *Progress // may be nil

	mu     sync.Mutex
	rows   map[string]int64
	failed []Failure
	warned map[string]bool
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
	return errors.As(err, &fe) || errors.Is(err, extract.ErrUnauthorized) || ctx.Err() != nil
}

// Run runs every pipeline of cfg. It returns an error only for fatal
// problems; scopes that failed on their own are listed in the Result.
func (r *Runner) Run(ctx context.Context, cfg *config.Config) (Result, error) {
	r.rows = map[string]int64{}
	r.warned = map[string]bool{}
	if r.BatchRows <= 0 {
		r.BatchRows = 5000
	}
	if r.Concurrency <= 0 {
		r.Concurrency = 8
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
				err := u.run(gctx)
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
	return Result{Rows: rows, Failures: append([]Failure(nil), r.failed...)}
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

// unit is one independently restartable piece of work.
type unit struct {
	scope string
	run   func(ctx context.Context) error
}

// flush stores what b and refs hold: dimension rows first, so that every
// id a fact row references is already in its table, then the fact rows
// with marks in the same transaction.
func (r *Runner) flush(ctx context.Context, b *transform.Builder, refs *transform.Refs, marks ...load.Watermark) error {
	if err := b.Err(); err != nil {
		return fmt.Errorf("building %s rows: %w", b.Table().Name, err)
	}
	if err := r.flushRefs(ctx, refs); err != nil {
		return err
	}
	if b.Len() == 0 && len(marks) == 0 {
		return nil
	}
	rec := b.NewRecord()
	defer rec.Release()
	n, err := r.Warehouse.AppendFacts(ctx, b.Table(), rec, marks...)
	if err != nil {
		return fatal(fmt.Errorf("storing %s: %w", b.Table().Name, err))
	}
	r.mu.Lock()
	r.rows[b.Table().Name] += n
	r.mu.Unlock()
	r.Progress.rows(b.Table().Name, n)
	return nil
}

func (r *Runner) flushRefs(ctx context.Context, refs *transform.Refs) error {
	if refs == nil || refs.Len() == 0 {
		return nil
	}
	recs := refs.Records(r.Mem, r.Meta)
	refs.Reset()
	defer func() {
		for _, tr := range recs {
			tr.Rec.Release()
		}
	}()
	for _, tr := range recs {
		if err := r.Warehouse.UpsertDimension(ctx, tr.Table, tr.Rec); err != nil {
			return fatal(fmt.Errorf("storing %s: %w", tr.Table.Name, err))
		}
	}
	return nil
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
