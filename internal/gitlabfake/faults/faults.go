// Package faults injects the failures a real GitLab shows into the answers
// of any http.Handler: 5xx errors, bodies cut off halfway, 429s from a
// token-bucket rate limiter (with GitLab's RateLimit-* headers on every
// answer), latency and requests that never get an answer. The fake GitLab,
// the demo server and the client tests share it:
//
//	f := faults.New(0, faults.Settings{FailEvery: 11, CutEvery: 37, RateLimit: 150})
//	srv := httptest.NewServer(faults.Inject(handler, f))
//	f.Set(faults.Settings{}) // faults off, at runtime
package faults

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is one injected failure.
type Fault uint8

const (
	// None serves the request normally.
	None Fault = iota
	// Fail answers a 5xx with GitLab's JSON message: 500, 502, 503 and 504 in rotation.
	Fail
	// CutShort answers 200 with the announced Content-Length and closes the
	// connection halfway through the body.
	CutShort
	// CutJSON answers 200 without a Content-Length and ends the response
	// normally halfway through the body: truncated JSON.
	CutJSON
	// Throttle answers 429 with Retry-After: 1.
	Throttle
	// Hang never answers: the request waits until the client gives up.
	Hang
)

// Settings say which faults to inject; the zero value injects none.
type Settings struct {
	// FailEvery makes every Nth request (counting all requests) Fail; 0 never.
	FailEvery int
	// CutEvery makes every Nth request whose answer is a 200 with a body
	// cut halfway, alternating CutShort and CutJSON; 0 never.
	CutEvery int
	// RateLimit is the sustained requests per second (a token bucket with
	// burst max(1, RateLimit/5)); requests over it are Throttled. 0 = unlimited.
	RateLimit float64
	// Latency delays every answer (a request whose client gives up first
	// gets none); 0 none.
	Latency time.Duration
	// Script lists the faults of the next requests, one each, in order;
	// once it is used up FailEvery and CutEvery apply again.
	Script []Fault
}

// DefaultLimit is the RateLimit-Limit advertised when New is given none (GitLab's default).
const DefaultLimit = 2000

var failStatuses = []int{500, 502, 503, 504}

// Faults holds the settings and counters of the injection. It is safe for
// concurrent use, and its settings may change while requests are served.
type Faults struct {
	limit int // requests a minute, advertised in RateLimit-Limit

	reqN, failN, cutN   atomic.Int64
	failEvery, cutEvery atomic.Int64
	latency             atomic.Int64 // nanoseconds
	// clock is the server's clock (SetClock); nil is the local one.
	clock atomic.Pointer[func() time.Time]

	mu       sync.Mutex
	script   []Fault
	rate     float64
	tokens   float64
	lastFill time.Time
	winStart int64
	winCount int
}

// New returns faults injecting s that advertise limit requests a minute in
// RateLimit-Limit (DefaultLimit when limit <= 0).
func New(limit int, s Settings) *Faults {
	if limit <= 0 {
		limit = DefaultLimit
	}
	f := &Faults{limit: limit}
	f.Set(s)
	return f
}

// Set replaces the settings (negative numbers count as 0); it refills the
// token bucket and starts s.Script from its beginning.
func (f *Faults) Set(s Settings) {
	f.failEvery.Store(int64(max(0, s.FailEvery)))
	f.cutEvery.Store(int64(max(0, s.CutEvery)))
	f.latency.Store(int64(max(0, s.Latency)))
	f.mu.Lock()
	f.script = append([]Fault(nil), s.Script...)
	f.rate = max(0, s.RateLimit)
	f.tokens = burst(f.rate)
	f.lastFill = time.Now()
	f.mu.Unlock()
}

// SetClock makes now the server's clock: every answer's Date header, and
// the instant RateLimit-Reset names, are read on it. A GitLab's rows are
// never dated after its own clock, so a fake whose data runs ahead of the
// local clock must say so, or a client bounding its reads by the server's
// now (audit event windows) rightly misses rows that, on a real server,
// could not exist yet.
func (f *Faults) SetClock(now func() time.Time) { f.clock.Store(&now) }

// now reads the server's clock.
func (f *Faults) now() time.Time {
	if c := f.clock.Load(); c != nil {
		return (*c)()
	}
	return time.Now()
}

// Requests is how many requests have come through so far, whatever their answer.
func (f *Faults) Requests() int64 { return f.reqN.Load() }

func burst(rate float64) float64 { return max(1, rate/5) }

// Inject returns a handler that serves next with f's faults injected.
func Inject(next http.Handler, f *Faults) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.serve(w, r, next) })
}

func (f *Faults) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	w.Header().Set("Date", f.now().UTC().Format(http.TimeFormat))
	n := f.reqN.Add(1)
	fault, scripted := f.scripted()
	if !f.wait(r) {
		return
	}
	if !f.allow(w.Header()) || fault == Throttle {
		tooMany(w)
		return
	}
	if !scripted {
		fault = f.periodic(n)
	}
	switch fault {
	case Fail:
		f.fail(w, r)
	case Hang:
		<-r.Context().Done()
	case CutShort, CutJSON, cutNext:
		f.cut(w, r, next, fault)
	default:
		next.ServeHTTP(w, r)
	}
}

// scripted takes the next fault of the script, if any is left.
func (f *Faults) scripted() (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.script) == 0 {
		return None, false
	}
	fault := f.script[0]
	f.script = f.script[1:]
	return fault, true
}

// cutNext is the periodic cut: CutShort and CutJSON in turn, counting only
// the answers that were really cut.
const cutNext Fault = 255

// periodic is the fault FailEvery or CutEvery give request n.
func (f *Faults) periodic(n int64) Fault {
	if fe := f.failEvery.Load(); fe > 0 && n%fe == 0 {
		return Fail
	}
	if ce := f.cutEvery.Load(); ce > 0 && n%ce == 0 {
		return cutNext
	}
	return None
}

// wait sleeps for the latency and reports whether the client is still there.
func (f *Faults) wait(r *http.Request) bool {
	d := time.Duration(f.latency.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// allow sets the RateLimit-* headers and reports whether the token bucket
// lets the request through.
func (f *Faults) allow(h http.Header) bool {
	now := time.Now()
	f.mu.Lock()
	minute := now.Unix() / 60
	if minute != f.winStart {
		f.winStart, f.winCount = minute, 0
	}
	f.winCount++
	observed := f.winCount
	allowed := true
	if f.rate > 0 {
		f.tokens = min(burst(f.rate), f.tokens+now.Sub(f.lastFill).Seconds()*f.rate)
		f.lastFill = now
		if f.tokens >= 1 {
			f.tokens--
		} else {
			allowed = false
		}
	}
	f.mu.Unlock()
	// The window ends on the local clock; the instant is the server's.
	reset := time.Unix((minute+1)*60, 0).Add(f.now().Sub(now)).UTC()
	h.Set("RateLimit-Limit", strconv.Itoa(f.limit))
	h.Set("RateLimit-Observed", strconv.Itoa(observed))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(0, f.limit-observed)))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.Format(http.TimeFormat))
	return allowed
}

// tooMany answers 429 the way GitLab's rate limiter does.
func tooMany(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusTooManyRequests)
	w.Write([]byte("Retry later\n"))
}

// fail answers the next 5xx of the rotation with GitLab's JSON message.
func (f *Faults) fail(w http.ResponseWriter, r *http.Request) {
	st := failStatuses[(f.failN.Add(1)-1)%int64(len(failStatuses))]
	body := `{"message":"` + strconv.Itoa(st) + " " + http.StatusText(st) + `"}`
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(st)
	if r.Method != http.MethodHead {
		w.Write([]byte(body))
	}
}
