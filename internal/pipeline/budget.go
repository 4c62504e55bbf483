package pipeline

import (
	"context"
	"sync"
)

// heldBatches is how many batches' worth of fact rows (Runner.BatchRows
// each) a run holds in memory at most, all units together: rows in the
// units' builders and rows cut but not stored yet. Without a bound each
// running unit held a builder plus two batches at its storer, so memory
// grew with the units running at once and, once storing fell behind
// fetching (a backfill of a long history), stayed at that worst case:
// 47 MiB of event builders alone in a first run of 1.4 million events.
const heldBatches = 4

// rowBudget bounds the fact rows a run holds in memory (see heldBatches).
// Units call add after appending rows to a builder and then wait, under
// the unit's lock; their storers call stored when a batch is written or
// dropped; a unit that ends with rows it never cut (an error path) gives
// them back with stored too. wait makes fetching wait for storing: when
// storing is the bottleneck, fetching ahead of it only fills memory.
//
// wait never waits for rows nobody will free. While every held row sits in
// a builder (none is queued at a storer), a waiting unit cuts its own
// builders, so that the storers have work and the rows it holds are freed;
// every unit with rows either reaches wait again, cuts them when full or
// cuts them in finish.
//
// Safe for concurrent use.
type rowBudget struct {
	max int64

	mu     sync.Mutex
	cond   *sync.Cond
	held   int64 // rows appended and not yet stored or given back
	queued int64 // of held, rows in batches cut and not yet stored
}

func newRowBudget(max int) *rowBudget {
	b := &rowBudget{max: int64(max)}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// wait waits while more than max rows are held. cut cuts the caller's
// builders (those holding rows) to its storer; it is called without b's
// lock and must call queue for what it cuts. wait returns cut's error or
// ctx's cause.
func (b *rowBudget) wait(ctx context.Context, cut func() error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held <= b.max {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	for b.held > b.max {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		if b.queued == 0 {
			b.mu.Unlock()
			err := cut()
			b.mu.Lock()
			if err != nil {
				return err
			}
			if b.queued > 0 {
				continue
			}
			// Nothing of ours to cut: others' builders hold the rows,
			// and their units cut them when they next append or end.
		}
		b.cond.Wait()
	}
	return nil
}

// add counts n rows just appended to a builder.
func (b *rowBudget) add(n int) {
	b.mu.Lock()
	b.held += int64(n)
	b.mu.Unlock()
}

// queue moves n held rows from a builder to a batch waiting to be stored.
func (b *rowBudget) queue(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.queued += int64(n)
	b.mu.Unlock()
	b.cond.Broadcast()
}

// stored frees n rows: a batch of queued rows stored or dropped (queued
// true), or rows a builder released without cutting them.
func (b *rowBudget) stored(n int, queued bool) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.held -= int64(n)
	if queued {
		b.queued -= int64(n)
	}
	b.mu.Unlock()
	b.cond.Broadcast()
}
