package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// budgetUnit is a unit as rowBudget sees it: a builder of rows under a
// lock, cut into a storer that frees them once "stored".
type budgetUnit struct {
	b       *rowBudget
	mu      sync.Mutex
	builder int
	store   chan int
}

func (u *budgetUnit) append(ctx context.Context, n int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.builder += n
	u.b.add(n)
	return u.b.wait(ctx, func() error {
		if u.builder == 0 {
			return nil
		}
		u.b.queue(u.builder)
		u.store <- u.builder
		u.builder = 0
		return nil
	})
}

// TestRowBudgetBoundsHeldRows: units appending far more rows than the
// budget never hold more than it plus one page each, and none waits
// forever, although no unit ever fills a batch of its own: every row is
// freed only because waiting units cut their builders.
func TestRowBudgetBoundsHeldRows(t *testing.T) {
	const maxRows, page, units, pages = 1000, 100, 8, 200
	b := newRowBudget(maxRows)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var peak int64
	var mu sync.Mutex
	var storers, appenders sync.WaitGroup
	us := make([]*budgetUnit, units)
	for i := range us {
		us[i] = &budgetUnit{b: b, store: make(chan int, 1)}
		storers.Add(1)
		go func(u *budgetUnit) {
			defer storers.Done()
			for n := range u.store {
				b.mu.Lock()
				mu.Lock()
				peak = max(peak, b.held)
				mu.Unlock()
				b.mu.Unlock()
				time.Sleep(time.Millisecond) // a slow warehouse
				b.stored(n, true)
			}
		}(us[i])
	}
	errs := make(chan error, units)
	for _, u := range us {
		appenders.Add(1)
		go func() {
			defer appenders.Done()
			for range pages {
				if err := u.append(ctx, page); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	appenders.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	for _, u := range us {
		b.stored(u.builder, false) // what a unit gives back at its end
		close(u.store)
	}
	storers.Wait()
	if b.held != 0 || b.queued != 0 {
		t.Errorf("after every row was stored or given back: held %d, queued %d; want 0, 0", b.held, b.queued)
	}
	if limit := int64(maxRows + units*page); peak > limit {
		t.Errorf("held %d rows at most; want at most %d (the budget plus a page per unit)", peak, limit)
	}
	if peak < maxRows/2 {
		t.Errorf("held %d rows at most: the test did not reach the budget", peak)
	}
}

// TestRowBudgetWaitEndsWithContext: a unit waiting for rows nobody frees
// (its own builder is empty, another unit's holds them) returns when its
// context ends, with the context's cause.
func TestRowBudgetWaitEndsWithContext(t *testing.T) {
	b := newRowBudget(10)
	b.add(10) // another unit's builder, full, never cut
	cause := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	b.add(1)
	go func() { done <- b.wait(ctx, func() error { return nil }) }()
	select {
	case err := <-done:
		t.Fatalf("wait returned %v over the budget", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel(cause)
	if err := <-done; !errors.Is(err, cause) {
		t.Errorf("wait = %v, want the context's cause", err)
	}
}

// TestRowBudgetCutError: an error cutting the unit's builder is returned.
func TestRowBudgetCutError(t *testing.T) {
	b := newRowBudget(10)
	boom := errors.New("storer failed")
	b.add(11)
	if err := b.wait(context.Background(), func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("wait = %v, want the cut's error", err)
	}
}
