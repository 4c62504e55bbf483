package extract

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Throttle is shared by every request of a run, so that the whole pool
// slows down together: a 429 or a nearly exhausted RateLimit-Remaining
// pauses all workers, not only the one that saw it (per-worker backoff is
// what turns one 429 into a retry storm).
type Throttle struct {
	limiter *rate.Limiter // our own ceiling (gitlab.requests_per_second); nil = none
	reserve int           // keep this many requests of the server's window unused

	mu         sync.Mutex
	pauseUntil time.Time

	waited atomic.Int64 // nanoseconds spent waiting on limits, summed over workers
}

// NewThrottle returns a throttle with an optional requests-per-second
// ceiling (0: none). reserve is how many requests of the server's window to
// leave unused before pausing until the window resets; the pool's
// concurrency is a good value (that many requests can be in flight).
func NewThrottle(rps float64, reserve int) *Throttle {
	t := &Throttle{reserve: reserve}
	if rps > 0 {
		burst := max(1, int(rps/4))
		t.limiter = rate.NewLimiter(rate.Limit(rps), burst)
	}
	return t
}

// Wait blocks until a request may be sent: past any pool-wide pause and
// within the ceiling.
func (t *Throttle) Wait(ctx context.Context) error {
	start := time.Now()
	defer func() { t.waited.Add(int64(time.Since(start))) }()
	for {
		t.mu.Lock()
		d := time.Until(t.pauseUntil)
		t.mu.Unlock()
		if d <= 0 {
			break
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if t.limiter != nil {
		return t.limiter.Wait(ctx)
	}
	return nil
}

// PauseUntil makes every worker wait until at least until.
func (t *Throttle) PauseUntil(until time.Time) {
	t.mu.Lock()
	if until.After(t.pauseUntil) {
		t.pauseUntil = until
	}
	t.mu.Unlock()
}

// maxWindowPause bounds how long a RateLimit-Reset header can stall us: a
// wrong clock on either side must not freeze a run for an hour.
const maxWindowPause = 65 * time.Second

// Observe reads GitLab's RateLimit-Remaining and RateLimit-Reset (a Unix
// time, not a delay) and pauses the pool until the reset when the window is
// about to run out.
func (t *Throttle) Observe(h http.Header, now time.Time) {
	rem, err := strconv.Atoi(h.Get("RateLimit-Remaining"))
	if err != nil || rem > t.reserve {
		return
	}
	reset, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	if err != nil {
		return
	}
	until := time.Unix(reset, 0)
	if until.Sub(now) > maxWindowPause {
		until = now.Add(maxWindowPause)
	}
	if until.After(now) {
		t.PauseUntil(until)
	}
}

// Waited is the total time workers spent waiting on rate limits.
func (t *Throttle) Waited() time.Duration { return time.Duration(t.waited.Load()) }

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return nil
	}
}
