package pipeline

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

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

func (c batch) factRows() int64 {
	if c.facts == nil {
		return 0
	}
	return c.facts.NumRows()
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

// storeAll stores cs, batches cut in this order, as one batch per table:
// the dimension rows of all of them first (each table's rows concatenated
// in order, so the last row of an id still wins), then each fact table's
// rows with the marks of its batches, in order. A batch's marks cover only
// its own table's rows, so grouping by table keeps every mark with, or
// after, the rows it covers. It does not release cs.
func (r *Runner) storeAll(ctx context.Context, cs []batch) error {
	if len(cs) == 1 {
		return r.store(ctx, cs[0])
	}
	var dims, facts byTable
	var marks [][]load.Mark // per group of facts
	for _, c := range cs {
		for _, tr := range c.dims {
			dims.add(tr.Table, tr.Rec)
		}
		i := facts.add(c.table, c.facts)
		if i == len(marks) {
			marks = append(marks, nil)
		}
		marks[i] = append(marks[i], c.marks...)
	}
	merged := batch{}
	defer func() { merged.release() }() // the dims appended below
	for i, t := range dims.tables {
		rec, err := concatRecords(r.Mem, dims.parts[i])
		if err != nil {
			return fatal(fmt.Errorf("merging %s rows: %w", t.Name, err))
		}
		merged.dims = append(merged.dims, transform.TableRecord{Table: t, Rec: rec})
	}
	if err := r.store(ctx, merged); err != nil {
		return err
	}
	for i, t := range facts.tables {
		f := batch{table: t, marks: marks[i]}
		if len(facts.parts[i]) > 0 {
			rec, err := concatRecords(r.Mem, facts.parts[i])
			if err != nil {
				return fatal(fmt.Errorf("merging %s rows: %w", t.Name, err))
			}
			f.facts = rec
		}
		err := r.store(ctx, f)
		f.release()
		if err != nil {
			return err
		}
	}
	return nil
}

// byTable gathers records by table, tables in the order first seen.
type byTable struct {
	tables []schemas.Table
	parts  [][]arrow.RecordBatch // per table, in order
	index  map[string]int
}

// add files rec (nil: none) under t and returns t's index.
func (g *byTable) add(t schemas.Table, rec arrow.RecordBatch) int {
	i, ok := g.index[t.Name]
	if !ok {
		if g.index == nil {
			g.index = map[string]int{}
		}
		i = len(g.tables)
		g.index[t.Name] = i
		g.tables = append(g.tables, t)
		g.parts = append(g.parts, nil)
	}
	if rec != nil {
		g.parts[i] = append(g.parts[i], rec)
	}
	return i
}

// concatRecords returns recs (at least one, of one schema) as one record,
// which the caller releases.
func concatRecords(mem memory.Allocator, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	sc := recs[0].Schema()
	cols := make([]arrow.Array, 0, sc.NumFields())
	defer func() {
		for _, a := range cols {
			a.Release()
		}
	}()
	parts := make([]arrow.Array, len(recs))
	var n int64
	for _, rec := range recs {
		n += rec.NumRows()
	}
	for i := range sc.NumFields() {
		for j, rec := range recs {
			parts[j] = rec.Column(i)
		}
		a, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", sc.Field(i).Name, err)
		}
		cols = append(cols, a)
	}
	return array.NewRecordBatch(sc, cols, n), nil
}

// storer stores a unit's batches on its own goroutine, in the order they
// are cut, so that the unit's workers go on fetching while a batch is
// written. Batches cut while one is being stored wait in a queue, and the
// store goroutine takes the whole queue at once and stores it as one batch
// per table (group commit): every store pays a fixed cost (a transaction
// and its commit, Parquet files and their fsyncs, the watermark rows) under
// the warehouse lock all units share, and when a unit produced batches
// faster than that, a queue of one blocked its workers on every cut (the
// pool idled: a 200,000-event project took 3.6 times pages x latency /
// concurrency at concurrency 32). Memory: a unit holds the batch being
// stored, a queue of at most maxQueued batches' rows, and its builders.
//
// cut is called under the unit's lock, which orders the batches; wait is
// called after the last cut (and may be called again, by a deferred call
// on an error path).
type storer struct {
	r    *Runner
	done chan struct{}

	mu     sync.Mutex
	cond   *sync.Cond // signalled when the queue or err changes
	queue  []batch    // cut, not yet taken by the store goroutine
	closed bool       // wait was called: no more cuts
	err    error      // the first store error; later batches are dropped
}

// maxQueued bounds the fact rows waiting in a storer's queue, in batches
// of BatchRows: a cut past it waits for the store goroutine.
const maxQueued = 1

func (r *Runner) newStorer(ctx context.Context) *storer {
	s := &storer{r: r, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	go func() {
		defer close(s.done)
		for {
			s.mu.Lock()
			for len(s.queue) == 0 && !s.closed {
				s.cond.Wait()
			}
			take, failed := s.queue, s.err != nil
			s.queue = nil
			s.cond.Broadcast()
			s.mu.Unlock()
			if len(take) == 0 {
				return // closed and drained
			}
			var err error
			if !failed {
				err = r.storeAll(ctx, take)
			}
			for _, c := range take {
				c.release()
			}
			if err != nil {
				s.mu.Lock()
				s.err = err
				s.cond.Broadcast()
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *storer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// cut queues what b and refs hold, with marks. It waits only while the
// queue holds maxQueued batches' rows. It returns an earlier batch's store
// error, if any.
func (s *storer) cut(ctx context.Context, b *transform.Builder, refs *transform.Referenced, marks ...load.Mark) error {
	if err := s.failed(); err != nil {
		return err
	}
	c, err := s.r.cut(b, refs, marks...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The store goroutine always gets on (a cancelled ctx fails its store
	// at once and sets err), so this wait ends.
	for len(s.queue) > 0 && s.queuedRows()+c.factRows() > int64(maxQueued*s.r.BatchRows) && s.err == nil {
		s.cond.Wait()
	}
	if s.err != nil {
		c.release()
		return s.err
	}
	if err := context.Cause(ctx); err != nil {
		c.release()
		return err
	}
	s.queue = append(s.queue, c)
	s.cond.Broadcast()
	return nil
}

// queuedRows counts the fact rows in the queue. Guarded by mu.
func (s *storer) queuedRows() int64 {
	var n int64
	for _, c := range s.queue {
		n += c.factRows()
	}
	return n
}

// wait waits until every queued batch is stored and returns the first
// error.
func (s *storer) wait() error {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	<-s.done
	return s.failed()
}
