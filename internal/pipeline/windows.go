package pipeline

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/labtrail/labtrail/extract"
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
