package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// drain reads windows of a listing with workers goroutines: do reads one
// window, or returns its parts (a window found too big for one chain of
// pages) to read instead. Parts go to the front of the queue, so that
// windows finish roughly in order instead of all at once at the end: a
// stopped run then leaves most of what it read recorded, and memory holds
// few windows' worth at a time. The first error stops the others and is
// returned.
//
// A worker pool rather than errgroup.SetLimit: a window queues its parts
// from inside the pool, which under a limit could wait forever for the
// slot it holds itself.
func drain[W any](ctx context.Context, workers int, windows []W, do func(context.Context, W) ([]W, error)) error {
	q := &windowQueue[W]{todo: windows}
	q.cond = sync.NewCond(&q.mu)
	g, gctx := errgroup.WithContext(ctx)
	for range max(1, workers) {
		g.Go(func() error {
			for {
				w, ok := q.next()
				if !ok {
					return nil
				}
				parts, err := do(gctx, w)
				q.finish(parts, err)
				if err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// pageBudget bounds the pages of one listing read in windows, all windows
// together, by the client's max_pages: a server that never ends a listing
// must not get max_pages pages per window.
type pageBudget struct {
	n, max int64 // under the unit's lock
	path   string
}

func (b *pageBudget) take() error {
	if b.n++; b.n > b.max {
		return fmt.Errorf("%s: %w: more than %d pages in all its windows (gitlab.max_pages); refusing to go on", b.path, extract.ErrTooManyPages, b.max)
	}
	return nil
}

type windowQueue[W any] struct {
	mu     sync.Mutex
	cond   *sync.Cond
	todo   []W
	busy   int
	failed bool
}

// next returns the next window, waiting while others are read (they may
// split); false when there is none left or a window failed.
func (q *windowQueue[W]) next() (W, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.todo) == 0 && q.busy > 0 && !q.failed {
		q.cond.Wait()
	}
	var w W
	if len(q.todo) == 0 || q.failed {
		return w, false
	}
	w, q.todo = q.todo[0], q.todo[1:]
	q.busy++
	return w, true
}

func (q *windowQueue[W]) finish(parts []W, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.busy--
	q.todo = append(parts, q.todo...)
	q.failed = q.failed || err != nil
	q.cond.Broadcast()
}

// windowed is what a unit reading one stream's listing in windows keeps
// (an Events API source, a scope's audit events): the rows it has not
// stored yet and the newest row time it has, for the watermark. Windows
// are read in parallel, so b, refs and newest are under mu; batches are
// stored in cut order by st.
type windowed struct {
	r        *Runner
	pl       config.Pipeline
	key      load.WatermarkKey
	counters *StreamCounters
	st       *storer
	pages    pageBudget

	mu       sync.Mutex
	b        *transform.Builder
	refs     *transform.Referenced
	newest   time.Time   // newest row time stored (not future-dated), or the watermark's
	finished []load.Mark // windows whose rows are all in b or stored, not yet recorded
}

// windowedUnit is the unit of a windowed run of the stream with key,
// whose rows go to table t: it reads the stream's watermark (as far as it
// is trusted) and the windows an earlier run finished, and hands read the
// run, where it starts (since, or the watermark when later) and those
// windows; it closes the run after.
func (r *Runner) windowedUnit(pl config.Pipeline, key load.WatermarkKey, t schemas.Table,
	read func(ctx context.Context, u *windowed, from time.Time, done []load.Window) error) unit {
	return unit{scope: key.Scope, run: func(ctx context.Context) error {
		wm, ok, err := r.Warehouse.Watermark(ctx, key)
		if err != nil {
			return fatal(err)
		}
		wm, ok = r.trusted(key, wm, ok)
		from := pl.Since
		if ok && wm.After(from) {
			from = wm
		}
		done, err := r.Warehouse.Windows(ctx, key)
		if err != nil {
			return fatal(err)
		}
		u := &windowed{r: r, pl: pl, key: key, newest: wm, b: transform.NewBuilder(r.Mem, t, r.Meta), refs: transform.NewReferenced(),
			counters: r.Counters.stream(key.Stream), st: r.newStorer(ctx),
			pages: pageBudget{max: r.Client.MaxPages(), path: key.Stream + " of " + key.Scope}}
		defer u.close()
		for _, d := range done {
			if d.Newest.After(u.newest) {
				u.newest = d.Newest
			}
		}
		return read(ctx, u, from, done)
	}}
}

// close stops the run's storer (on error paths: finish waits for it
// itself) and releases its builder, giving back the rows of the run's
// budget it still holds (on error paths).
func (u *windowed) close() {
	u.st.wait()
	u.r.budget.stored(u.b.Len(), false)
	u.b.Release()
}

// addPage appends the rows of a page created at or after since (add
// appends one, under the lock), storing a batch when the builder is full,
// and moves newest (its window's) and the run's newest past every row not
// dated after the server's clock.
func addPage[T any](ctx context.Context, u *windowed, rows []T, created func(*T) time.Time, add func(*T), newest *time.Time) error {
	u.counters.page(len(rows))
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.pages.take(); err != nil {
		return err
	}
	before := u.b.Len()
	for i := range rows {
		t := created(&rows[i])
		if t.Before(u.pl.Since) {
			continue
		}
		add(&rows[i])
		if !u.r.future(u.pl.Name, u.key.Scope, u.key.Stream, t) {
			if t.After(*newest) {
				*newest = t
			}
			if t.After(u.newest) {
				u.newest = t
			}
		}
	}
	u.r.budget.add(u.b.Len() - before)
	if u.r.full(u.b) {
		if err := u.cutLocked(ctx); err != nil {
			return err
		}
	}
	return u.r.budget.wait(ctx, func() error {
		if u.b.Len() == 0 {
			return nil
		}
		return u.cutLocked(ctx)
	})
}

// cutLocked cuts what the builder holds, with the finished windows.
// Called under mu.
func (u *windowed) cutLocked(ctx context.Context) error {
	marks := u.finished
	u.finished = nil
	return u.st.cut(ctx, u.b, u.refs, marks...)
}

// record notes w, a window the run finished: its last rows are in the
// builder, so its mark commits with the next batch cut (or with the
// recordEvery-th finished window).
// Cutting a batch per window instead wrote hundreds of small batches (each
// a transaction, fsyncs and Parquet files) and made storing the bottleneck
// of a backfill.
func (u *windowed) record(ctx context.Context, w load.Window) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.finished = append(u.finished, w)
	if len(u.finished) < recordEvery {
		return nil
	}
	return u.cutLocked(ctx)
}

// recordEvery is how many finished windows wait for a batch at most: a
// stream with few rows per window (audit events) would otherwise record
// none until the run ends.
const recordEvery = 4

// finish stores what the run holds with the watermark at value (none when
// zero) and waits until every batch is stored. The watermark forgets the
// finished windows; without one they are recorded.
func (u *windowed) finish(ctx context.Context, value time.Time) error {
	marks := u.finished
	if !value.IsZero() {
		marks = append(marks, load.Watermark{WatermarkKey: u.key, Value: value})
	}
	if err := u.st.cut(ctx, u.b, u.refs, marks...); err != nil {
		return err
	}
	return u.st.wait()
}
