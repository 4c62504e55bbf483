package pipeline

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// batch is rows cut from a unit's builders, ready to store: the dimension
// rows its fact rows reference, then the fact rows with the marks that
// commit with them.
type batch struct {
	table schemas.Table
	facts arrow.RecordBatch // nil: none
	dims  []transform.TableRecord
	marks []load.Mark
}

// rows is how many fact rows c holds: what it holds of the run's
// rowBudget until it is stored.
func (c batch) rows() int {
	if c.facts == nil {
		return 0
	}
	return int(c.facts.NumRows())
}

func (c batch) release() {
	if c.facts != nil {
		c.facts.Release()
	}
	for _, tr := range c.dims {
		tr.Rec.Release()
	}
}

// cut takes what b (nil: no facts) and refs hold, leaving them empty.
func (r *Runner) cut(b *transform.Builder, refs *transform.Referenced, marks ...load.Mark) (batch, error) {
	c := batch{marks: marks}
	if b != nil {
		if err := b.Err(); err != nil {
			return c, fmt.Errorf("building %s rows: %w", b.Table().Name, err)
		}
		c.table = b.Table()
		if b.Len() > 0 {
			c.facts = b.NewRecord()
		}
	}
	if refs.Len() > 0 {
		c.dims = refs.Records(r.Mem, r.Meta)
		refs.EachUser(r.names().learn) // users listed this run resolve notes' usernames
		refs.Reset()
	}
	return c, nil
}

// store writes c: dimension rows first, so that every id a fact row
// references is already in its table, then the fact rows with the marks
// in one transaction. It does not release c.
func (r *Runner) store(ctx context.Context, c batch) error {
	for _, tr := range c.dims {
		if err := r.Warehouse.UpsertDimension(ctx, tr.Table, tr.Rec); err != nil {
			return fatal(fmt.Errorf("storing %s: %w", tr.Table.Name, err))
		}
	}
	if c.facts == nil && len(c.marks) == 0 {
		return nil
	}
	n, err := r.Warehouse.AppendFacts(ctx, c.table, c.facts, c.marks...)
	if err != nil {
		return fatal(fmt.Errorf("storing %s: %w", c.table.Name, err))
	}
	r.mu.Lock()
	r.rows[c.table.Name] += n
	r.mu.Unlock()
	r.Counters.rows(c.table.Name, n)
	return nil
}

// storer stores a unit's batches on its own goroutine, in the order they
// are cut, so that the unit's workers go on fetching while a batch is
// written: the warehouse writes one batch at a time, and a worker writing
// under the unit's lock held every other worker up for as long. One batch
// waits at most; the rows of every unit's builders and batches together
// are bounded by the run's rowBudget, which a batch leaves once stored
// (or dropped).
//
// cut is called under the unit's lock, which orders the batches; wait is
// called after the last cut (and may be called again, by a deferred call
// on an error path).
type storer struct {
	r     *Runner
	ch    chan batch
	done  chan struct{}
	close sync.Once

	mu  sync.Mutex
	err error // the first store error; later batches are dropped
}

func (r *Runner) newStorer(ctx context.Context) *storer {
	s := &storer{r: r, ch: make(chan batch, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for c := range s.ch {
			if s.failed() == nil {
				if err := r.store(ctx, c); err != nil {
					s.mu.Lock()
					s.err = err
					s.mu.Unlock()
				}
			}
			r.budget.stored(c.rows(), true)
			c.release()
		}
	}()
	return s
}

func (s *storer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// cut queues what b and refs hold, with marks, waiting while a batch is
// already queued. It returns an earlier batch's store error, if any.
func (s *storer) cut(ctx context.Context, b *transform.Builder, refs *transform.Referenced, marks ...load.Mark) error {
	if err := s.failed(); err != nil {
		return err
	}
	c, err := s.r.cut(b, refs, marks...)
	if err != nil {
		return err
	}
	s.r.budget.queue(c.rows())
	select {
	case s.ch <- c:
		return nil
	case <-ctx.Done():
		s.r.budget.stored(c.rows(), true)
		c.release()
		return context.Cause(ctx)
	}
}

// wait waits until every queued batch is stored and returns the first
// error.
func (s *storer) wait() error {
	s.close.Do(func() { close(s.ch) })
	<-s.done
	return s.failed()
}
