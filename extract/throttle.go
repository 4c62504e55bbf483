package extract

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle is shared by every request of a run, so that the whole pool
// slows down together: a 429 or a nearly exhausted RateLimit-Remaining
// pauses all workers, not only the one that saw it (per-worker backoff is
// what turns one 429 into a retry storm). After a 429 it also lowers the
// pool's request rate below what the server just refused (and raises it
// again slowly while no 429 comes), so that a server that throttles at a
// fixed rate is met near that rate instead of in pause-burst cycles.
type Throttle struct {
	ceiling rate.Limit // gitlab.requests_per_second, or Inf
	reserve int        // keep this many requests of the server's window unused
	maxWait time.Duration
	clock   *serverClock // nil: the local clock

	mu         sync.Mutex
	pauseUntil time.Time
	limiter    *rate.Limiter
	adaptive   rate.Limit // Inf until the first 429
	changed    time.Time  // last change of adaptive
	starts     [512]time.Time
	next       int

	paused time.Duration // wall time the pool was paused, guarded by mu
}

// newThrottle returns a throttle with an optional requests-per-second
// ceiling (0: none). reserve is how many requests of the server's window to
// leave unused before pausing until the window resets; the pool's
// concurrency is a good value (that many requests can be in flight).
// maxWait bounds any single pause a server asks for; clock, when not nil,
// is the server's clock for RateLimit-Reset.
func newThrottle(rps float64, reserve int, maxWait time.Duration, clock *serverClock) *Throttle {
	t := &Throttle{reserve: reserve, ceiling: rate.Inf, adaptive: rate.Inf, maxWait: maxWait, clock: clock}
	if rps > 0 {
		t.ceiling = rate.Limit(rps)
	}
	t.limiter = rate.NewLimiter(t.ceiling, burstFor(t.ceiling))
	return t
}

func burstFor(l rate.Limit) int {
	if l == rate.Inf {
		return 1
	}
	return max(1, int(l/10))
}

// setAdaptive changes the adaptive rate; t.mu must be held.
func (t *Throttle) setAdaptive(l rate.Limit, now time.Time) {
	if l > 10_000 {
		l = rate.Inf
	}
	t.adaptive, t.changed = l, now
	eff := min(t.adaptive, t.ceiling)
	t.limiter.SetLimitAt(now, eff)
	t.limiter.SetBurstAt(now, burstFor(eff))
}

// started records a request start, for measuring the pool's rate.
func (t *Throttle) started(now time.Time) {
	t.mu.Lock()
	t.starts[t.next] = now
	t.next = (t.next + 1) % len(t.starts)
	// While no 429 comes, win back 10% a second.
	if t.adaptive != rate.Inf && now.Sub(t.changed) >= time.Second {
		t.setAdaptive(t.adaptive*1.1, now)
	}
	t.mu.Unlock()
}

// Throttled handles a 429: the whole pool pauses for retryAfter, and the
// pool's rate drops to 70% of what it sent in the last second. Requests
// already in flight when the first 429 came do not lower it again.
func (t *Throttle) Throttled(now time.Time, retryAfter time.Duration) {
	t.mu.Lock()
	if now.After(t.pauseUntil) {
		n := 0
		for _, s := range t.starts {
			if !s.IsZero() && now.Sub(s) <= time.Second {
				n++
			}
		}
		t.setAdaptive(0.7*min(t.adaptive, rate.Limit(max(n, 2))), now)
	}
	t.mu.Unlock()
	t.pause(now, now.Add(retryAfter))
}

// Wait blocks until a request may be sent: past any pool-wide pause and
// within the pool's rate.
func (t *Throttle) Wait(ctx context.Context) error {
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
	if err := t.limiter.Wait(ctx); err != nil {
		return err
	}
	t.started(time.Now())
	return nil
}

// pause makes every worker wait until at least until.
func (t *Throttle) pause(now, until time.Time) {
	t.mu.Lock()
	if from := later(now, t.pauseUntil); until.After(from) {
		t.paused += until.Sub(from)
		t.pauseUntil = until
	}
	t.mu.Unlock()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Observe reads GitLab's RateLimit-Remaining and RateLimit-Reset (an
// instant on the server's clock, not a delay) and pauses the pool until the
// reset when the window is about to run out. A reset further away than
// maxWait is an error (ErrWaitTooLong), as a long Retry-After is.
func (t *Throttle) Observe(h http.Header, now time.Time) error {
	rem, err := strconv.Atoi(h.Get("RateLimit-Remaining"))
	if err != nil || rem > t.reserve {
		return nil
	}
	reset, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	if err != nil {
		return nil
	}
	d := time.Unix(reset, 0).Sub(t.clock.now(now))
	if err := t.checkWait("RateLimit-Reset: "+strconv.FormatInt(reset, 10), d); err != nil {
		return err
	}
	if d > 0 {
		t.pause(now, now.Add(d))
	}
	return nil
}

// checkWait refuses a wait longer than maxWait, naming what asked for it.
func (t *Throttle) checkWait(what string, d time.Duration) error {
	if d <= t.maxWait {
		return nil
	}
	return fmt.Errorf("%w: the server asked labtrail to wait %s (%s), more than gitlab.max_wait (%s); stopping instead of holding the warehouse that long",
		ErrWaitTooLong, d.Round(time.Second), what, t.maxWait)
}

// Paused is the wall time the pool spent paused by 429s and exhausted
// RateLimit-Remaining windows.
func (t *Throttle) Paused() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.paused
}

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
