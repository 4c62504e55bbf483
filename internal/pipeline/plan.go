package pipeline

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/internal/redact"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
)

// Plan is what the next run of a config will cost, as `labtrail plan`
// estimates it without running it (see Planner). Requests are the figure
// it answers for; rows are rough (see Cost).
type Plan struct {
	// TotalRequests is what the run will send: resolving scopes, listings,
	// Events API pages and resource-event pages (retries not included).
	TotalRequests int64 `json:"total_requests"`
	// TotalRows is the fact rows the run will read (see Cost.Rows).
	TotalRows int64 `json:"total_rows"`
	// Wall time of TotalRequests: at the rate the server advertises
	// (RateLimit-Limit; null when it sends none), at the configured
	// gitlab.requests_per_second (null when not set), and at the
	// configured concurrency with the latency the plan measured. A run
	// goes no faster than the slowest of them: ExpectedSeconds.
	SecondsAtAdvertisedRate    *float64 `json:"seconds_at_advertised_rate"`
	SecondsAtRequestsPerSecond *float64 `json:"seconds_at_requests_per_second"`
	SecondsAtConcurrency       float64  `json:"seconds_at_concurrency"`
	ExpectedSeconds            float64  `json:"expected_seconds"`

	AdvertisedRequestsPerMinute *int64   `json:"advertised_requests_per_minute"`
	RequestsPerSecond           *float64 `json:"requests_per_second"`
	Concurrency                 int      `json:"concurrency"`
	// MeasuredLatencyMS is the latency of one request as the plan
	// measured it: the median of each class of its requests (Events API
	// pages, parent listings, resource-event pages), weighed by the
	// requests of each class the run will send.
	MeasuredLatencyMS float64 `json:"measured_latency_ms"`
	// PlanRequests is what the plan itself sent.
	PlanRequests int64 `json:"plan_requests"`
	// FirstRun: the warehouse holds no watermark yet (or does not exist);
	// everything is read from each pipeline's since.
	FirstRun  bool           `json:"first_run"`
	Pipelines []PipelinePlan `json:"pipelines"`
}

// PipelinePlan is one pipeline's share of a Plan.
type PipelinePlan struct {
	Name        string `json:"name"`
	Projects    int    `json:"projects"`
	Groups      int    `json:"groups"`
	Users       int    `json:"users"`
	CurrentUser bool   `json:"current_user"`
	Requests    int64  `json:"requests"`
	Rows        int64  `json:"rows"`
	// ResolveRequests: looking up the projects, groups (with their project
	// listings) and users, as the run does first.
	ResolveRequests int64       `json:"resolve_requests"`
	Scopes          []ScopePlan `json:"scopes"`
	// Problems are scopes that could not be resolved or sized: their cost
	// is not in the totals.
	Problems []ScopeProblem `json:"problems"`
}

// ScopePlan is one scope's (project, group, user, current user) share.
type ScopePlan struct {
	Scope    string `json:"scope"` // as in watermarks: project:42, group:7, user:3, current_user, instance
	Name     string `json:"name"`  // its path or username
	Requests int64  `json:"requests"`
	Rows     int64  `json:"rows"`
	// Parents counts the issues, merge requests and epics the run lists:
	// those changed since the oldest of their families' watermarks (less
	// overlap), every one on a first run.
	Parents map[string]int64 `json:"parents"`
	// Listings are the parent listings' costs; their rows are parents.
	Listings map[string]Cost `json:"listings"`
	// Streams are the fact streams' costs, by stream name.
	Streams map[string]Cost `json:"streams"`
	// Unavailable names the streams GitLab refuses here (403/404: not
	// licensed or not allowed), found by a probe or recorded by a run;
	// the run skips them after its first refusal.
	Unavailable []string `json:"unavailable"`
}

// Cost is what one stream or listing of a scope will cost.
type Cost struct {
	Requests int64 `json:"requests"`
	// Rows the run will read. Events: GitLab's count (hidden rows
	// included). Resource events: the parents the run reads times the
	// average of a few sampled parents, so rough. An incremental run
	// re-reads an overlap and stores fewer rows than it reads.
	Rows int64 `json:"rows"`
	// From is where the run starts: the first day asked of the Events API,
	// or the updated_at from which parents are read.
	From time.Time `json:"from"`
	// Basis says how it was estimated: totals (GitLab's counts),
	// day_windows or time_windows (a listing too big for GitLab to count,
	// counted in parts), extrapolated (some parts left uncounted when the
	// probes ran out, taken at the counted parts' density, at least 10,001
	// rows each), lower_bound (no part could be counted: 10,001 rows
	// each), sampled (parents' events averaged over sampled parents),
	// unsampled (no parent could be sampled: one page each, rows
	// unknown), windows (audit events: one request per 30-day window, a
	// lower bound, rows unknown: keyset pages carry no totals),
	// unavailable.
	Basis string `json:"basis"`
}

// ScopeProblem is a scope the plan could not resolve or size.
type ScopeProblem struct {
	Scope  string `json:"scope"`
	Stream string `json:"stream,omitempty"`
	Error  string `json:"error"`
}

// Bounds and models of the estimate.
const (
	// gitlabCountLimit: past this many rows GitLab omits a listing's totals.
	gitlabCountLimit = 10_000
	// pageRows is the rows of a page, as every listing asks (per_page=100).
	pageRows = 100
	// maxCountProbes bounds the requests spent counting one listing too
	// big for GitLab to count.
	maxCountProbes = 64
	// samplesPerFamily is how many parents of each kind have each family's
	// events read, per pipeline, for the rows and pages per parent.
	samplesPerFamily = 3
	// refusedRequests is what a run spends on a stream refused in a scope
	// before the first refusal stops it: the pool has a few requests out.
	refusedRequests = 2
)

// Planner estimates what the next run of Config will cost, reading the
// warehouse read-only (watermarks, availability; a missing warehouse is a
// first run) and GitLab's listings, one page each: the scope lookups a run
// makes, page 1 of every Events API source and parent listing from where
// the run would start (a listing past 10,000 rows, which GitLab does not
// count, is counted in day or time windows, at most 64 requests), and the
// resource events of a few parents per family, which also probe the
// Premium streams nothing is known about yet (one parent per top-level
// namespace: that is where GitLab licenses them), and the first page of
// the newest window of each audit scope not known to be refused.
type Planner struct {
	Config *config.Config
	Token  string
	// Log receives the plan's messages, redacted for Token; nil discards.
	Log *slog.Logger
	// BackoffBase: see extract.Options; tests shorten it.
	BackoffBase time.Duration
	// Shard plans one shard's part of a sharded run (see Shard); zero
	// plans the whole run.
	Shard Shard
}

// Plan makes the plan. It fails only when it cannot start (the warehouse
// cannot be read, the client cannot be built) or on errors that would end
// a run (a rejected token, a cancelled context); a scope that cannot be
// sized is listed among its pipeline's problems.
func (j Planner) Plan(ctx context.Context) (Plan, error) {
	red := redact.New(j.Token)
	log := j.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = slog.New(red.Handler(log.Handler()))
	cfg := j.Config
	st, err := readPlanState(ctx, cfg.Warehouse.DuckDB, j.Shard)
	if err != nil {
		return Plan{}, red.Wrap(err)
	}
	var rate extract.AdvertisedRate
	c, err := extract.NewClient(rate.Watch(clientOptions(cfg.GitLab, j.Token, log, j.BackoffBase)))
	if err != nil {
		return Plan{}, red.Wrap(err)
	}
	p := &planner{c: c, red: red, concurrency: cfg.GitLab.Concurrency, state: st, shard: j.Shard}
	out := Plan{FirstRun: len(st.marks) == 0, Concurrency: cfg.GitLab.Concurrency, Pipelines: []PipelinePlan{}}
	for _, pl := range cfg.Pipelines {
		pp, err := p.pipeline(ctx, pl)
		if err != nil {
			return Plan{}, red.Wrap(err)
		}
		out.Pipelines = append(out.Pipelines, pp)
		out.TotalRequests += pp.Requests
		out.TotalRows += pp.Rows
	}
	out.PlanRequests = c.Stats.Requests.Load()
	p.wallTimes(&out, &rate, cfg.GitLab.RequestsPerSecond)
	log.Info("planned", "requests", out.TotalRequests, "rows", out.TotalRows, "plan_requests", out.PlanRequests)
	return out, nil
}

// planState is what the warehouse knows: watermarks and availability.
type planState struct {
	marks map[load.WatermarkKey]time.Time
	avail map[load.WatermarkKey]load.Availability
}

// readPlanState reads the warehouse at path read-only; a missing file is
// an empty warehouse.
func readPlanState(ctx context.Context, path string, sh Shard) (planState, error) {
	st := planState{marks: map[load.WatermarkKey]time.Time{}, avail: map[load.WatermarkKey]load.Availability{}}
	previous, err := sh.OtherLayouts(path)
	if err != nil {
		return st, err
	}
	// A run adopts the state of the scopes it owns from earlier shard
	// layouts where it is newer (load.Options.Previous); so does the plan.
	for i, p := range append([]string{path}, previous...) {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		db, err := load.OpenReadOnly(ctx, p)
		if err != nil {
			return st, err
		}
		s, err := load.ReadStatus(ctx, db, 0)
		db.Close()
		if err != nil {
			return st, err
		}
		// The shard's own state (i == 0) is read first, whole.
		for _, m := range s.Watermarks {
			if cur, ok := st.marks[m.WatermarkKey]; (i == 0 || sh.ownsScope(m.Scope)) && (!ok || m.Value.After(cur)) {
				st.marks[m.WatermarkKey] = m.Value
			}
		}
		for _, a := range s.Availability {
			if _, ok := st.avail[a.WatermarkKey]; !ok && (i == 0 || sh.ownsScope(a.Scope)) {
				st.avail[a.WatermarkKey] = a
			}
		}
	}
	return st, nil
}

type planner struct {
	c           *extract.Client
	red         *redact.Redactor
	concurrency int
	state       planState
	shard       Shard

	mu        sync.Mutex
	latencies map[string][]time.Duration // by request class: events, listings, resource_events
}

// watermark is the stored watermark of k as a run trusts it.
func (p *planner) watermark(r *Runner, k load.WatermarkKey) (time.Time, bool) {
	wm, ok := p.state.marks[k]
	return r.trusted(k, wm, ok)
}

// Request classes, whose latencies differ (a first page of a listing
// counts it, a resource-event page is small): the wall time weighs each
// class's median by the requests of that class. Audit event pages count
// as Events API pages.
const (
	classEvents   = "events"
	classListings = "listings"
	classResource = "resource_events"
)

// timed runs one request's worth of fn and records how long it took.
func (p *planner) timed(class string, fn func() error) error {
	start := time.Now()
	err := fn()
	p.record(class, time.Since(start))
	return err
}

func (p *planner) record(class string, d time.Duration) {
	p.mu.Lock()
	if p.latencies == nil {
		p.latencies = map[string][]time.Duration{}
	}
	p.latencies[class] = append(p.latencies[class], d)
	p.mu.Unlock()
}

// keep stores a scope's error in *dst unless it would end a run: that one
// is returned, to end the plan.
func keep(ctx context.Context, dst *error, err error) error {
	if err == nil {
		return nil
	}
	if isFatal(ctx, err) {
		return err
	}
	*dst = err
	return nil
}

// each runs jobs on the planner's pool; the first error ends them all.
func (p *planner) each(ctx context.Context, jobs []func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.concurrency)
	for _, job := range jobs {
		g.Go(func() error { return job(gctx) })
	}
	return g.Wait()
}

// pipeline plans one pipeline: it resolves the scopes as a run does, sizes
// every listing (phase 1), reads a few parents' events (phase 2) and adds
// it all up.
func (p *planner) pipeline(ctx context.Context, pl config.Pipeline) (PipelinePlan, error) {
	r := &Runner{Client: p.c, Log: slog.New(slog.DiscardHandler), Concurrency: p.concurrency, Shard: p.shard}
	before := p.c.Stats.Requests.Load()
	s, err := r.resolve(ctx, pl)
	if err != nil {
		return PipelinePlan{}, err
	}
	out := PipelinePlan{Name: pl.Name, Projects: len(s.projects), Groups: len(s.groups), Users: len(s.users),
		CurrentUser: s.me != nil, ResolveRequests: p.c.Stats.Requests.Load() - before,
		Scopes: []ScopePlan{}, Problems: []ScopeProblem{}}
	for _, f := range r.failed {
		out.Problems = append(out.Problems, ScopeProblem{Scope: f.Scope, Error: p.red.Error(f.Err)})
	}
	scopes := newScopePlans(pl, s)
	evs := p.eventsJobs(r, pl, s)
	audits := p.auditJobs(r, pl, s)
	lists, err := p.listingJobs(r, pl, s)
	if err != nil {
		return out, fatal(err)
	}
	var jobs []func(context.Context) error
	for _, j := range evs {
		jobs = append(jobs, func(ctx context.Context) error { return keep(ctx, &j.err, p.sizeEvents(ctx, j)) })
	}
	for _, j := range lists {
		jobs = append(jobs, func(ctx context.Context) error { return keep(ctx, &j.err, p.sizeListing(ctx, j)) })
	}
	for _, j := range audits {
		jobs = append(jobs, func(ctx context.Context) error { return keep(ctx, &j.err, p.probeAudit(ctx, j)) })
	}
	if err := p.each(ctx, jobs); err != nil {
		return out, err
	}
	samples := chooseSamples(lists)
	jobs = jobs[:0]
	for _, sm := range samples {
		jobs = append(jobs, func(ctx context.Context) error { return keep(ctx, &sm.err, p.readSample(ctx, sm)) })
	}
	if err := p.each(ctx, jobs); err != nil {
		return out, err
	}
	for _, j := range evs {
		if j.err != nil {
			out.Problems = append(out.Problems, ScopeProblem{Scope: j.src.String(), Stream: schemas.EventsStream.Name(), Error: p.red.Error(j.err)})
			continue
		}
		scopes.get(j.src.String()).add(schemas.EventsStream.Name(), j.cost(), false)
	}
	avg := averages(samples)
	for _, j := range lists {
		if j.err != nil {
			out.Problems = append(out.Problems, ScopeProblem{Scope: j.scope, Stream: j.kind.Table().Name, Error: p.red.Error(j.err)})
			continue
		}
		j.addTo(scopes.get(j.scope), samples, avg)
	}
	for _, sm := range samples {
		if sm.err != nil {
			out.Problems = append(out.Problems, ScopeProblem{Scope: sm.job.scope, Stream: sm.fam.Name(), Error: p.red.Error(sm.err)})
		}
	}
	for _, j := range audits {
		if j.err != nil {
			out.Problems = append(out.Problems, ScopeProblem{Scope: j.scope.String(), Stream: schemas.AuditEventsStream.Name(), Error: p.red.Error(j.err)})
			continue
		}
		j.addTo(scopes.get(j.scope.String()))
	}
	out.Requests = out.ResolveRequests
	for _, sp := range scopes.list {
		slices.Sort(sp.Unavailable)
		sp.Unavailable = slices.Compact(sp.Unavailable)
		out.Requests += sp.Requests
		out.Rows += sp.Rows
		out.Scopes = append(out.Scopes, *sp)
	}
	return out, nil
}

// scopePlans are a pipeline's scopes in the order a run resolves them.
type scopePlans struct {
	list  []*ScopePlan
	byKey map[string]*ScopePlan
}

func newScopePlans(pl config.Pipeline, s *scopes) *scopePlans {
	sp := &scopePlans{byKey: map[string]*ScopePlan{}}
	for _, p := range s.projects {
		sp.get(schemas.ScopeProject.Key(p.ID)).Name = p.PathWithNamespace
	}
	for _, g := range s.epicGroups {
		sp.get(schemas.ScopeGroup.Key(g.ID)).Name = g.FullPath
	}
	for _, u := range s.users {
		sp.get(schemas.ScopeUser.Key(u.ID)).Name = u.Username
	}
	if s.me != nil {
		sp.get(schemas.ScopeCurrentUser.Key(0)).Name = s.me.Username
	}
	for _, p := range s.auditProjects {
		if k := schemas.ScopeProject.Key(p.ID); sp.byKey[k] == nil && pl.HasStream(schemas.AuditEventsStream) {
			sp.get(k).Name = p.PathWithNamespace // another shard's project, whose audit events the instance also lists
		}
	}
	for _, g := range s.auditGroups {
		if k := schemas.ScopeGroup.Key(g.ID); sp.byKey[k] == nil && pl.HasStream(schemas.AuditEventsStream) {
			sp.get(k).Name = g.FullPath // a subgroup of another named group: read for its audit events only
		}
	}
	if s.instance && pl.HasStream(schemas.AuditEventsStream) {
		sp.get(schemas.ScopeInstance.Key(0)).Name = "(instance)"
	}
	return sp
}

// get returns the scope with key, added at the end if new.
func (sp *scopePlans) get(key string) *ScopePlan {
	if sp.byKey[key] == nil {
		sp.byKey[key] = &ScopePlan{Scope: key, Parents: map[string]int64{}, Listings: map[string]Cost{},
			Streams: map[string]Cost{}, Unavailable: []string{}}
		sp.list = append(sp.list, sp.byKey[key])
	}
	return sp.byKey[key]
}

// add adds c to the stream (or, for listing, the parent listing) name.
func (sp *ScopePlan) add(name string, c Cost, listing bool) {
	m := sp.Streams
	if listing {
		m = sp.Listings
	}
	old, ok := m[name]
	if ok {
		c.Requests += old.Requests
		c.Rows += old.Rows
		if old.From.Before(c.From) {
			c.From = old.From
		}
		if old.Basis != "unavailable" && old.Basis != "" {
			c.Basis = old.Basis
		}
	}
	m[name] = c
	sp.Requests += c.Requests - old.Requests
	if !listing {
		sp.Rows += c.Rows - old.Rows
	}
}
