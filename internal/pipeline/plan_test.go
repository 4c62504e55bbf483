package pipeline

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// plan makes a plan of the harness's config, as `labtrail plan` does.
func (h *harness) plan() Plan {
	h.t.Helper()
	p, err := Planner{Config: h.cfg, Token: token, BackoffBase: 5 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}.Plan(context.Background())
	if err != nil {
		h.t.Fatalf("plan: %v", err)
	}
	for _, pp := range p.Pipelines {
		if len(pp.Problems) > 0 {
			h.t.Fatalf("plan problems: %+v", pp.Problems)
		}
	}
	return p
}

// planScale is the bench instance (BenchmarkFullRun) made smaller, with
// one project's events still past 10,000 (GitLab omits the totals) and
// alice's too.
func planScale() gitlabfake.Scale {
	return gitlabfake.Scale{IssuesPerProject: 60, MRsPerProject: 25, EpicsPerGroup: 8,
		EventsPerProject: 1_500, BigProjectEvents: 13_000}
}

// estimateRatio runs once after plan p and returns estimated/actual
// requests, logging where they differ.
func (h *harness) estimateRatio(what string, p Plan) float64 {
	h.t.Helper()
	h.fake.ResetRequests()
	start := time.Now()
	_, c := h.mustRun()
	took := time.Since(start)
	actual := c.Stats.Requests.Load()
	ratio := float64(p.TotalRequests) / float64(actual)
	h.t.Logf("%s: estimated %d requests (plan itself %d), run made %d: ratio %.3f; estimated rows %d; %.1fs at concurrency (%.2f ms), run took %.1fs",
		what, p.TotalRequests, p.PlanRequests, actual, ratio, p.TotalRows, p.SecondsAtConcurrency, p.MeasuredLatencyMS, took.Seconds())
	h.t.Logf("%s by kind: estimated %v; server counted %v", what, planByKind(p), h.fake.Requests())
	return ratio
}

// planByKind sums a plan's requests by the fake's request kinds.
func planByKind(p Plan) map[string]int64 {
	out := map[string]int64{}
	for _, pp := range p.Pipelines {
		out["resolve"] += pp.ResolveRequests
		for _, sp := range pp.Scopes {
			for name, c := range sp.Listings {
				out[name] += c.Requests
			}
			for name, c := range sp.Streams {
				if name == "events" {
					out[strings.SplitN(sp.Scope, ":", 2)[0]+"_events"] += c.Requests
					continue
				}
				out["resource_"+name] += c.Requests
			}
		}
	}
	return out
}

func TestPlanEstimatesFirstAndIncrementalRuns(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 11, Scale: planScale()}, acmePipeline)

	first := h.plan()
	if _, err := os.Stat(h.cfg.Warehouse.DuckDB); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("plan created the warehouse (stat: %v); it must not write", err)
	}
	if !first.FirstRun {
		t.Error("first_run is false before any run")
	}
	checkFirstPlan(t, first)
	if r := h.estimateRatio("first run", first); math.Abs(r-1) > 0.2 {
		t.Errorf("first run: estimate/actual = %.3f, want within 20%%", r)
	}

	if sum := h.fake.AddActivity(3); sum.TouchedParents == 0 {
		t.Fatal("the fake added no activity")
	}
	inc := h.plan()
	if inc.FirstRun {
		t.Error("first_run is true after a run")
	}
	if inc.TotalRequests >= first.TotalRequests/2 {
		t.Errorf("incremental plan: %d requests, not much less than the first run's %d", inc.TotalRequests, first.TotalRequests)
	}
	if r := h.estimateRatio("incremental run", inc); math.Abs(r-1) > 0.2 {
		t.Errorf("incremental run: estimate/actual = %.3f, want within 20%%", r)
	}
}

// checkFirstPlan checks what a first plan of acmePipeline must say.
func checkFirstPlan(t *testing.T, p Plan) {
	t.Helper()
	if len(p.Pipelines) != 1 {
		t.Fatalf("%d pipelines", len(p.Pipelines))
	}
	pp := p.Pipelines[0]
	if pp.Projects != 4 || pp.Groups != 1 || pp.Users != 1 || !pp.CurrentUser {
		t.Errorf("resolved %d projects, %d groups, %d users, current user %v", pp.Projects, pp.Groups, pp.Users, pp.CurrentUser)
	}
	byName := map[string]ScopePlan{}
	for _, sp := range pp.Scopes {
		byName[sp.Name] = sp
	}
	tool, big := byName["freeorg/tool"], byName["acme/platform/big"]
	if !slices.Equal(tool.Unavailable, []string{"iteration_events", "weight_events"}) {
		t.Errorf("freeorg/tool unavailable: %v, want the Premium streams", tool.Unavailable)
	}
	if len(big.Unavailable) != 0 {
		t.Errorf("acme/platform/big unavailable: %v", big.Unavailable)
	}
	if ev := big.Streams["events"]; ev.Basis != "day_windows" || ev.Rows < 12_000 {
		t.Errorf("big project's events: %+v; want more than 12,000 rows counted in day windows", ev)
	}
	if n := big.Parents["issues"]; n != int64(planScale().IssuesPerProject) {
		t.Errorf("big project: %d issues to read, want all %d", n, planScale().IssuesPerProject)
	}
	if p.SecondsAtAdvertisedRate == nil || p.AdvertisedRequestsPerMinute == nil || *p.AdvertisedRequestsPerMinute != 1_000_000 {
		t.Errorf("advertised rate not read: %v", p.AdvertisedRequestsPerMinute)
	}
	if p.SecondsAtRequestsPerSecond != nil {
		t.Error("seconds_at_requests_per_second set without requests_per_second")
	}
	if p.MeasuredLatencyMS <= 0 || p.PlanRequests <= 0 || p.PlanRequests > p.TotalRequests/5 {
		t.Errorf("latency %.2f ms, plan requests %d (of %d estimated)", p.MeasuredLatencyMS, p.PlanRequests, p.TotalRequests)
	}
}

func TestSizeBySplitting(t *testing.T) {
	day := 24 * time.Hour
	lo := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	// 300 rows a day for 100 days: 30,000 rows; a window is counted when
	// it holds at most 10,000.
	count := func(_ context.Context, s span) (extract.Extent, error) {
		days := int64(s.hi.Sub(s.lo)/day) + 1
		if days*300 > gitlabCountLimit {
			return extract.Extent{Total: -1, TotalPages: -1}, nil
		}
		return extract.Extent{Total: days * 300, TotalPages: ceilDiv(days*300, 100)}, nil
	}
	whole := span{lo: lo, hi: lo.AddDate(0, 0, 99), last: true}
	rows, how, err := sizeBySplitting(context.Background(), whole, day, maxCountProbes, count)
	if err != nil || how != "counted" || rows != 30_000 {
		t.Errorf("got %d rows (%s), err %v; want 30000 counted", rows, how, err)
	}
	// Out of budget: the uncounted parts are taken at the counted density.
	rows, how, err = sizeBySplitting(context.Background(), whole, day, 4, count)
	if err != nil || how != "extrapolated" || rows < 25_000 || rows > 35_000 {
		t.Errorf("small budget: got %d rows (%s), err %v; want about 30000 extrapolated", rows, how, err)
	}
	// A single day past 10,000 cannot be split: a lower bound.
	one := span{lo: lo, hi: lo, last: true}
	rows, how, _ = sizeBySplitting(context.Background(), one, day, maxCountProbes, count)
	if how != "lower_bound" || rows != gitlabCountLimit+1 {
		t.Errorf("one day: %d rows (%s)", rows, how)
	}
}

func TestListingRequestModels(t *testing.T) {
	for _, c := range []struct{ pages, want int64 }{{0, 1}, {1, 1}, {8, 8}, {100, 100}, {101, 106}, {240, 245}, {1900, 1941}} {
		if got := eventsListingRequests(c.pages); got != c.want {
			t.Errorf("events listing of %d pages: %d requests, want %d", c.pages, got, c.want)
		}
	}
	for _, c := range []struct{ parents, want int64 }{{0, 1}, {100, 1}, {101, 2}, {199, 2}, {200, 3}} {
		if got := parentListingRequests(c.parents); got != c.want {
			t.Errorf("listing %d parents: %d requests, want %d", c.parents, got, c.want)
		}
	}
}

// Audit events are planned a request per 30-day window from where the run
// starts; a scope GitLab refuses, at its one probe.
func TestPlanCountsAuditWindows(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 11, Scale: auditScale()}, auditPipeline)
	p := h.plan()
	byScope := map[string]Cost{}
	for _, sp := range p.Pipelines[0].Scopes {
		if c, ok := sp.Streams["audit_events"]; ok {
			byScope[sp.Scope] = c
		}
	}
	windows := int64(len(extract.AuditWindows(h.cfg.Pipelines[0].Since, time.Now())))
	for _, scope := range []string{"project:101", "project:102", "project:103", "group:10", "instance"} {
		if c := byScope[scope]; c.Requests < windows-1 || c.Requests > windows+1 || c.Basis != "windows" {
			t.Errorf("%s: %+v, want about %d requests by windows", scope, c, windows)
		}
	}
	if c := byScope["project:104"]; c.Requests != 1 || c.Basis != "unavailable" {
		t.Errorf("freeorg/tool: %+v, want its one refused probe", c)
	}
	h.mustRun()
	inc := h.plan()
	for _, sp := range inc.Pipelines[0].Scopes {
		if c := sp.Streams["audit_events"]; c.Requests > 2 {
			t.Errorf("incremental plan, %s: %+v", sp.Scope, c)
		}
	}
}
