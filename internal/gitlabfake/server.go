// Package gitlabfake is a deterministic, GitLab-faithful fake of the parts
// of the GitLab REST API (v4) that an events exporter reads: Events API,
// issues, merge requests, epics and their resource events, with GitLab's
// pagination, filtering, visibility, licensing and error quirks, plus
// injectable faults (5xx, cut bodies, rate limiting). It backs integration
// tests, benchmarks and the demo server.
package gitlabfake

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server.
type Options struct {
	// Seed makes the generated instance deterministic.
	Seed int64
	// Token is accepted as "PRIVATE-TOKEN: x" or "Authorization: Bearer x";
	// anything else gets 401. An empty Token accepts every request.
	Token string
	// Scale sets the instance size; zero fields take DefaultScale's values.
	Scale Scale
	// Location is the instance time zone for after/before day boundaries; nil means UTC.
	Location *time.Location
	// FailEvery makes every Nth request (counting all requests) fail with
	// 500, 502, 503, 504 in rotation; 0 never.
	FailEvery int
	// CutEvery makes every Nth request answer 200 with a body cut halfway,
	// alternating a connection closed short of its Content-Length and a
	// complete response whose JSON is truncated; 0 never.
	CutEvery int
	// RateLimit is the sustained requests per second (token bucket with burst
	// max(1, RateLimit/5)); requests over it get 429 with Retry-After. 0 = unlimited.
	RateLimit float64
	// RateLimitPerMinute is advertised in RateLimit-Limit (default 2000).
	RateLimitPerMinute int
}

// Scale sets how big the generated instance is.
type Scale struct {
	Users                   int // regular users besides root and ghost
	IssuesPerProject        int
	MRsPerProject           int
	EpicsPerGroup           int // per Premium group
	EventsPerProject        int // Events API rows per normal project
	BigProjectEvents        int // Events API rows of acme/platform/big (>10,000 hides totals)
	ResourceEventsPerParent int // average resource events per issue, MR or epic
}

// DefaultScale is the size used for zero Scale fields.
func DefaultScale() Scale {
	return Scale{Users: 8, IssuesPerProject: 30, MRsPerProject: 15, EpicsPerGroup: 6,
		EventsPerProject: 400, BigProjectEvents: 10_500, ResourceEventsPerParent: 6}
}

// withDefaults fills zero fields from DefaultScale; negative fields mean none.
func (sc Scale) withDefaults() Scale {
	def := DefaultScale()
	fix := func(v *int, d int) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			*v = 0
		}
	}
	fix(&sc.Users, def.Users)
	fix(&sc.IssuesPerProject, def.IssuesPerProject)
	fix(&sc.MRsPerProject, def.MRsPerProject)
	fix(&sc.EpicsPerGroup, def.EpicsPerGroup)
	fix(&sc.EventsPerProject, def.EventsPerProject)
	fix(&sc.BigProjectEvents, def.BigProjectEvents)
	fix(&sc.ResourceEventsPerParent, def.ResourceEventsPerParent)
	return sc
}

// Request kinds counted by Requests.
var requestKinds = []string{"project_events", "user_events", "current_user_events", "issues", "merge_requests", "epics",
	"group_projects", "resource_label_events", "resource_state_events", "resource_milestone_events",
	"resource_iteration_events", "resource_weight_events", "other"}

// Server is the fake GitLab; it is an http.Handler safe for concurrent use.
type Server struct {
	seed  int64
	token string
	sc    Scale
	loc   *time.Location
	rpm   int

	mu  sync.RWMutex
	d   *Data
	idx *index

	cacheMu sync.Mutex
	cache   map[string][]int32

	reqN, failN, cutN   atomic.Int64
	failEvery, cutEvery atomic.Int64
	counts              [16]atomic.Int64

	rateMu   sync.Mutex
	rate     float64
	tokens   float64
	lastFill time.Time
	winStart int64
	winCount int
}

// New generates the instance described by opts.
func New(opts Options) *Server {
	s := &Server{seed: opts.Seed, token: opts.Token, sc: opts.Scale.withDefaults(), loc: opts.Location, rpm: opts.RateLimitPerMinute}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.rpm <= 0 {
		s.rpm = 2000
	}
	s.d = generate(opts.Seed, s.sc)
	s.idx = buildIndex(s.d)
	s.cache = map[string][]int32{}
	s.SetFaults(opts.FailEvery, opts.CutEvery, opts.RateLimit)
	return s
}

// Data returns a deep copy of the current instance.
func (s *Server) Data() *Data {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.Clone()
}

// Edit changes the instance in place under the write lock and re-indexes
// it, for rows no generator makes (tests plant future-dated ones). fn must
// keep ids unique and each id slice in id order, as generate does.
func (s *Server) Edit(fn func(d *Data)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.d)
	s.idx = buildIndex(s.d)
	s.cacheMu.Lock()
	clear(s.cache)
	s.cacheMu.Unlock()
}

// Scale returns the effective scale (defaults filled in).
func (s *Server) Scale() Scale { return s.sc }

// Requests returns request counts by endpoint kind, including failed and injected ones.
func (s *Server) Requests() map[string]int {
	out := make(map[string]int, len(requestKinds))
	for i, k := range requestKinds {
		out[k] = int(s.counts[i].Load())
	}
	return out
}

// ResetRequests zeroes the counts Requests reports.
func (s *Server) ResetRequests() {
	for i := range s.counts {
		s.counts[i].Store(0)
	}
}

// SetFaults changes fault injection at runtime (0 switches a fault off).
func (s *Server) SetFaults(failEvery, cutEvery int, rateLimit float64) {
	s.failEvery.Store(int64(max(0, failEvery)))
	s.cutEvery.Store(int64(max(0, cutEvery)))
	s.rateMu.Lock()
	s.rate = max(0, rateLimit)
	s.tokens = burst(s.rate)
	s.lastFill = time.Now()
	s.rateMu.Unlock()
}

func burst(rate float64) float64 { return math.Max(1, rate/5) }

func kindIndex(kind string) int {
	for i, k := range requestKinds {
		if k == kind {
			return i
		}
	}
	return len(requestKinds) - 1
}

// resp is a response under construction.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (rw *resp) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"500 Internal Server Error"}`)
	}
	rw.status, rw.body = status, b
	rw.header.Set("Content-Type", "application/json")
}

func (rw *resp) message(status int, msg string)  { rw.json(status, map[string]string{"message": msg}) }
func (rw *resp) errorMsg(status int, msg string) { rw.json(status, map[string]string{"error": msg}) }

var failStatuses = []int{500, 502, 503, 504}

// ServeHTTP serves /api/v4/... .
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs, pathOK := splitPath(r)
	kind, h := route(segs)
	if !pathOK {
		kind, h = "other", nil
	}
	s.counts[kindIndex(kind)].Add(1)
	n := s.reqN.Add(1)
	hdr := w.Header()

	allowed := s.rateLimit(hdr)
	if !allowed {
		hdr.Set("Retry-After", "1")
		hdr.Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, "Retry later\n")
		return
	}
	rw := &resp{status: http.StatusOK, header: http.Header{}}
	switch fe := s.failEvery.Load(); {
	case fe > 0 && n%fe == 0:
		st := failStatuses[(s.failN.Add(1)-1)%int64(len(failStatuses))]
		rw.message(st, strconv.Itoa(st)+" "+http.StatusText(st))
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		rw.errorMsg(http.StatusMethodNotAllowed, "405 Not Allowed")
	case !s.authorized(r):
		rw.message(http.StatusUnauthorized, "401 Unauthorized")
	case h == nil:
		rw.errorMsg(http.StatusNotFound, "404 Not Found")
	default:
		s.serveLocked(h, &request{r: r, q: r.URL.Query(), segs: segs, rw: rw})
	}
	for k, v := range rw.header {
		hdr[k] = v
	}
	if ce := s.cutEvery.Load(); ce > 0 && n%ce == 0 && rw.status == http.StatusOK && len(rw.body) > 0 {
		s.writeCut(w, r, rw)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(rw.body)))
	w.WriteHeader(rw.status)
	if r.Method != http.MethodHead {
		w.Write(rw.body)
	}
}

// serveLocked runs h under the read lock, released even if h panics (a
// panic that net/http recovers must not leave AddActivity waiting forever).
func (s *Server) serveLocked(h handler, rq *request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h(s, rq)
}

func (s *Server) authorized(r *http.Request) bool {
	if s.token == "" {
		return true
	}
	if t := r.Header.Get("PRIVATE-TOKEN"); t != "" {
		return t == s.token
	}
	return r.Header.Get("Authorization") == "Bearer "+s.token
}

// rateLimit sets the RateLimit-* headers and reports whether the token bucket allows the request.
func (s *Server) rateLimit(h http.Header) bool {
	now := time.Now()
	s.rateMu.Lock()
	minute := now.Unix() / 60
	if minute != s.winStart {
		s.winStart, s.winCount = minute, 0
	}
	s.winCount++
	observed := s.winCount
	allowed := true
	if s.rate > 0 {
		s.tokens = math.Min(burst(s.rate), s.tokens+now.Sub(s.lastFill).Seconds()*s.rate)
		s.lastFill = now
		if s.tokens >= 1 {
			s.tokens--
		} else {
			allowed = false
		}
	}
	s.rateMu.Unlock()
	reset := time.Unix((minute+1)*60, 0).UTC()
	h.Set("RateLimit-Limit", strconv.Itoa(s.rpm))
	h.Set("RateLimit-Observed", strconv.Itoa(observed))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(0, s.rpm-observed)))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.Format(http.TimeFormat))
	return allowed
}

// writeCut sends a 200 whose body stops halfway: odd cuts close the
// connection short of the announced Content-Length, even cuts end the
// response normally (chunked, no Content-Length) with truncated JSON.
func (s *Server) writeCut(w http.ResponseWriter, r *http.Request, rw *resp) {
	half := rw.body[:len(rw.body)/2]
	if s.cutN.Add(1)%2 == 1 {
		w.Header().Set("Content-Length", strconv.Itoa(len(rw.body)))
		if hj, ok := w.(http.Hijacker); ok && r.ProtoMajor == 1 {
			conn, buf, err := hj.Hijack()
			if err == nil {
				defer conn.Close()
				writeRawHead(buf, r, w.Header())
				buf.Write(half)
				buf.Flush()
				return
			}
		}
		w.WriteHeader(http.StatusOK)
		w.Write(half)
		if r.ProtoMajor >= 2 {
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			panic(http.ErrAbortHandler)
		}
		return // a recorder: nothing to abort
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	w.Write(half)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func writeRawHead(buf *bufio.ReadWriter, r *http.Request, h http.Header) {
	fmt.Fprintf(buf, "HTTP/1.%d 200 OK\r\n", r.ProtoMinor)
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Connection", "close")
	h.Write(buf)
	buf.WriteString("\r\n")
}
