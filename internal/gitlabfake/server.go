// Package gitlabfake is a deterministic, GitLab-faithful fake of the parts
// of the GitLab REST API (v4) that an events exporter reads: Events API,
// issues, merge requests, epics and their resource events, with GitLab's
// pagination, filtering, visibility, licensing and error quirks, and
// GitLab's rate-limit headers. Faults (5xx, cut bodies, 429s, latency) are
// injected in front of it by package faults. It backs integration tests,
// benchmarks and the demo server.
package gitlabfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake/faults"
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
	// FailEvery, CutEvery and RateLimit are the initial faults (see
	// faults.Settings); Server.Faults changes them at runtime.
	FailEvery int
	CutEvery  int
	RateLimit float64
	// RateLimitPerMinute is advertised in RateLimit-Limit (default 2000).
	RateLimitPerMinute int
	// NotAdmin makes the token's owner an ordinary user: the instance's
	// audit events answer 403, as they do for anyone but administrators.
	NotAdmin bool
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
	AuditEventsPerProject   int // audit events over the history per project (the big one 15 times as many), half per group
}

// DefaultScale is the size used for zero Scale fields.
func DefaultScale() Scale {
	return Scale{Users: 8, IssuesPerProject: 30, MRsPerProject: 15, EpicsPerGroup: 6,
		EventsPerProject: 400, BigProjectEvents: 10_500, ResourceEventsPerParent: 6, AuditEventsPerProject: 40}
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
	fix(&sc.AuditEventsPerProject, def.AuditEventsPerProject)
	return sc
}

// Request kinds counted by Requests.
var requestKinds = []string{"project_events", "user_events", "current_user_events", "issues", "merge_requests", "epics",
	"group_projects", "resource_label_events", "resource_state_events", "resource_milestone_events",
	"resource_iteration_events", "resource_weight_events", "audit_events", "notes", "user_lookups", "other"}

// Server is the fake GitLab; it is an http.Handler safe for concurrent use.
type Server struct {
	seed     int64
	token    string
	sc       Scale
	loc      *time.Location
	notAdmin bool

	mu  sync.RWMutex
	d   *Data
	idx *index

	cacheMu sync.Mutex
	cache   map[string][]int32

	counts [24]atomic.Int64
	faults *faults.Faults
	// now is where the clock stands (see clock).
	now atomic.Pointer[clockBase]
}

// clockBase sets the instance's clock: data (the instance's Now) at the
// local monotonic instant at.
type clockBase struct{ data, at time.Time }

// New generates the instance described by opts.
func New(opts Options) *Server {
	s := &Server{seed: opts.Seed, token: opts.Token, sc: opts.Scale.withDefaults(), loc: opts.Location, notAdmin: opts.NotAdmin}
	if s.loc == nil {
		s.loc = time.UTC
	}
	s.d = generate(opts.Seed, s.sc)
	s.cache = map[string][]int32{}
	s.reindex() // no one else holds s yet
	s.faults = faults.New(opts.RateLimitPerMinute,
		faults.Settings{FailEvery: opts.FailEvery, CutEvery: opts.CutEvery, RateLimit: opts.RateLimit})
	s.faults.SetClock(s.clock)
	return s
}

// clock is the instance's clock, which its Date headers give: the
// instance's Now (BaseTime for a generated instance, moved on by
// AddActivity) plus the time passed since it was set. Not the local clock:
// the generated history ends at BaseTime, a fixed day, and a clock that
// ran ahead of the data would have AddActivity create rows on days the
// server had already said were past, which a real GitLab never does (a
// client that records finished days rightly never reads them again).
func (s *Server) clock() time.Time {
	b := s.now.Load()
	return b.data.Add(time.Since(b.at))
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
	s.reindex()
}

// reindex rebuilds the index after the data changed and drops the cached
// listings; s.mu must be held for writing.
func (s *Server) reindex() {
	if b := s.now.Load(); b == nil || !b.data.Equal(s.d.Now) {
		s.now.Store(&clockBase{data: s.d.Now, at: time.Now()})
	}
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

// Faults is the fault injection in front of the server; its Set changes
// the faults at runtime.
func (s *Server) Faults() *faults.Faults { return s.faults }

// SetFaults replaces the injected faults with these three (0 switches a
// fault off), as Faults().Set does.
func (s *Server) SetFaults(failEvery, cutEvery int, rateLimit float64) {
	s.faults.Set(faults.Settings{FailEvery: failEvery, CutEvery: cutEvery, RateLimit: rateLimit})
}

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

// ServeHTTP serves /api/v4/... behind the injected faults. Every request
// counts in Requests, those the faults answer too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs, pathOK := splitPath(r)
	kind, h := route(segs)
	switch {
	case !pathOK:
		kind, h = "other", nil
	case kind == "users" && r.URL.Query().Has("username"):
		kind = "user_lookups" // GET /users?username=: resolving a name a system note gave
	case kind == "users":
		kind = "other"
	}
	s.counts[kindIndex(kind)].Add(1)
	api := func(w http.ResponseWriter, r *http.Request) { s.serveAPI(w, r, segs, h) }
	faults.Inject(http.HandlerFunc(api), s.faults).ServeHTTP(w, r)
}

// serveAPI answers a request the faults let through.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, segs []string, h handler) {
	rw := &resp{status: http.StatusOK, header: http.Header{}}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		rw.errorMsg(http.StatusMethodNotAllowed, "405 Not Allowed")
	case !s.authorized(r):
		rw.message(http.StatusUnauthorized, "401 Unauthorized")
	case h == nil:
		rw.errorMsg(http.StatusNotFound, "404 Not Found")
	default:
		s.serveLocked(h, &request{r: r, q: r.URL.Query(), segs: segs, rw: rw})
	}
	hdr := w.Header()
	for k, v := range rw.header {
		hdr[k] = v
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
