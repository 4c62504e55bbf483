package pipeline

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/gitlabfake"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
	"github.com/labtrail/labtrail/load"
)

// The acme pipeline with audit events: its projects' (one of them in a
// Free group, which GitLab refuses), acme's, and the instance's.
const auditPipeline = acmePipeline + "    audit_events: true\n    instance_audit_events: true\n"

// auditScale is small in everything but audit events: the big project's
// 30-day windows take two keyset pages.
func auditScale() gitlabfake.Scale {
	return gitlabfake.Scale{Users: 4, IssuesPerProject: 6, MRsPerProject: 3, EpicsPerGroup: 2, EventsPerProject: 60,
		BigProjectEvents: 100, ResourceEventsPerParent: 4, AuditEventsPerProject: 40}
}

func auditScope(d *gitlabfake.Data) wt.Scope { return acmeScope(d).WithAudit(true) }

// auditQueries records every audit events request (path and query).
type auditQueries struct {
	mu sync.Mutex
	qs []string
}

// auditPath is the path of the audit events of scope ("project:101").
func auditPath(scope string) string {
	kind, id, _ := strings.Cut(scope, ":")
	if kind == "instance" {
		return "/api/v4/audit_events"
	}
	return "/api/v4/" + kind + "s/" + id + "/audit_events"
}

func (a *auditQueries) wrap(next http.Handler, onAudit func(n int)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/audit_events") {
			a.mu.Lock()
			a.qs = append(a.qs, r.URL.Path+"?"+r.URL.RawQuery)
			n := len(a.qs)
			a.mu.Unlock()
			if onAudit != nil {
				onAudit(n)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Issue 9's acceptance test: audit events exact in DuckDB and Parquet
// after a full run and after an incremental one; the Free project's one
// warning, remembered; an idle run costs about a request per scope.
func TestAuditEventsFullThenIncrementalAreExact(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 11, Scale: auditScale()}, auditPipeline)
	res, _ := h.mustRun()
	if res.Rows["audit_events"] < 500 {
		t.Fatalf("first run stored %d audit events", res.Rows["audit_events"])
	}
	h.checkExact(auditScope(h.fake.Data()))
	if n := strings.Count(h.logs.String(), "scope=project:104 stream=audit_events"); n != 1 {
		t.Errorf("%d warnings about the Free project's audit events, want 1", n)
	}
	if got := h.query("SELECT scope FROM _labtrail_availability WHERE stream = 'audit_events' AND NOT available"); len(got) != 1 || got[0] != "project:104" {
		t.Errorf("unavailable audit streams: %v", got)
	}
	if got := h.query("SELECT count(*) FROM _labtrail_windows WHERE stream = 'audit_events'"); got[0] != "0" {
		t.Errorf("%s windows left after a finished run", got[0])
	}
	// details is JSON text DuckDB reads as such, in the table and in Parquet.
	for _, src := range []string{"audit_events", "read_parquet('" + h.cfg.Warehouse.Parquet + "/audit_events/**/*.parquet', hive_partitioning = true)"} {
		got := h.query("SELECT count(*) > 0, min(typeof(details)), min(typeof(created_at)) FROM " + src +
			" WHERE json_extract_string(details, '$.change') = 'visibility'")
		if len(got) != 1 || got[0] != "true|VARCHAR|TIMESTAMP WITH TIME ZONE" {
			t.Errorf("%s: %v", src, got)
		}
	}

	sum := h.fake.AddActivity(2)
	if sum.AuditEvents == 0 {
		t.Fatal("no new audit events")
	}
	h.fake.ResetRequests()
	res, _ = h.mustRun()
	h.checkExact(auditScope(h.fake.Data()))
	// Five scopes read, the Free project probed: a window or two each.
	if n := h.fake.Requests()["audit_events"]; n > 6*2 {
		t.Errorf("incremental run made %d audit requests", n)
	}
	if res.Rows["audit_events"] > int64(sum.AuditEvents) {
		t.Errorf("incremental run added %d audit events, the instance gained %d", res.Rows["audit_events"], sum.AuditEvents)
	}

	h.fake.ResetRequests()
	res, _ = h.mustRun()
	if n := res.Rows["audit_events"]; n != 0 {
		t.Errorf("idle run added %d audit events", n)
	}
	if n := h.fake.Requests()["audit_events"]; n > 6*2 {
		t.Errorf("idle run made %d audit requests", n)
	}
	h.checkExact(auditScope(h.fake.Data()))
	wt.NoTokenIn(t, h.dir, h.logs.String(), token)
}

// A run stopped part-way through the audit events keeps the windows it
// finished, and the next run does not ask for them again; after it every
// table is exact, nothing missing, nothing doubled.
func TestAuditEventsStoppedRunThenResumeIsExact(t *testing.T) {
	for _, stopAfter := range []int{1, 30, 90} {
		h := newHarness(t, gitlabfake.Options{Seed: 12, Scale: auditScale()}, auditPipeline)
		ctx, cancel := context.WithCancel(context.Background())
		var first auditQueries
		h.setHandler(first.wrap(h.fake, func(n int) {
			if n == stopAfter {
				cancel()
			}
		}))
		if _, _, err := h.run(ctx); err == nil {
			t.Fatalf("stop after %d audit requests: the run did not notice", stopAfter)
		}
		recorded := h.query("SELECT scope || ' ' || strftime(first_day, '%Y-%m-%d') FROM _labtrail_windows WHERE stream = 'audit_events'")
		if stopAfter == 90 && len(recorded) == 0 {
			t.Errorf("stop after %d audit requests: no audit window recorded", stopAfter)
		}
		h.fake.AddActivity(7)
		var second auditQueries
		h.setHandler(second.wrap(h.fake, nil))
		h.mustRun()
		h.checkExact(auditScope(h.fake.Data()))
		for _, q := range second.qs {
			for _, w := range recorded {
				scope, day, _ := strings.Cut(w, " ")
				if strings.HasPrefix(q, auditPath(scope)+"?") && strings.Contains(q, "created_after="+day+"T00%3A00%3A00.000000Z") {
					t.Errorf("stop after %d: the window %s, recorded, was read again (%s)", stopAfter, w, q)
				}
			}
		}
		t.Logf("stop after %d audit requests: %d windows recorded; the resumed run made %d audit requests", stopAfter, len(recorded), len(second.qs))
	}
}

// Without administrator rights the instance's audit events are refused:
// one warning, remembered, and one probe a run; the rest is exported.
func TestInstanceAuditEventsRefusedToNonAdministrators(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 13, Scale: auditScale(), NotAdmin: true}, auditPipeline)
	h.mustRun()
	if !strings.Contains(h.logs.String(), "scope=instance stream=audit_events") {
		t.Error("no warning names the instance's audit events")
	}
	h.checkExact(acmeScope(h.fake.Data()).WithAudit(false))
	got := h.query("SELECT scope FROM _labtrail_availability WHERE stream = 'audit_events' AND NOT available ORDER BY scope")
	if strings.Join(got, ",") != "instance,project:104" {
		t.Errorf("unavailable audit streams: %v", got)
	}
	var qs auditQueries
	h.setHandler(qs.wrap(h.fake, nil))
	h.mustRun()
	probes := 0
	for _, q := range qs.qs {
		if strings.HasPrefix(q, auditPath("instance")+"?") {
			probes++
		}
	}
	if probes != 1 {
		t.Errorf("the second run asked for the instance's audit events %d times, want 1 (the probe)", probes)
	}
	if got := h.query("SELECT count(*) FROM _labtrail_watermarks WHERE stream = 'audit_events' AND scope IN ('instance', 'project:104')"); got[0] != "0" {
		t.Errorf("a refused scope has a watermark: %v", got)
	}
}

// A run's audit windows start at the watermark's instant, leave out the
// windows an earlier run finished, and otherwise cover every instant up
// to now once: each window at most 30 days, each a microsecond after the
// one before it or exactly where a finished one ends.
func TestAuditWindowsLeaveOutFinishedOnes(t *testing.T) {
	k := load.WatermarkKey{Pipeline: "p", Scope: "group:10", Stream: "audit_events"}
	from := date(t, "2024-01-01").Add(13*time.Hour + 1234567*time.Nanosecond)
	now := date(t, "2024-06-10").Add(9 * time.Hour)
	done := []load.Window{
		{WatermarkKey: k, First: date(t, "2024-01-31"), Last: date(t, "2024-03-01")},
		{WatermarkKey: k, First: date(t, "2024-03-31"), Last: date(t, "2024-04-29")},
	}
	ws := auditWindows(from, done, now)
	covered := func(at time.Time) int {
		n := 0
		for _, w := range ws {
			if !at.Before(w.From) && !at.After(w.Until) {
				n++
			}
		}
		for _, d := range done {
			if !at.Before(d.First) && at.Before(d.Last.Add(day)) {
				n++
			}
		}
		return n
	}
	if !ws[0].From.Equal(from) {
		t.Errorf("first window starts at %s, want the watermark %s", ws[0].From, from)
	}
	for i, w := range ws {
		if w.Until.Sub(w.From) > extract.MaxAuditWindow || w.Until.Before(w.From) {
			t.Errorf("window %d: %s..%s", i, w.From, w.Until)
		}
		for _, at := range []time.Time{w.From, w.Until, w.From.Add(-extract.AuditResolution), w.Until.Add(extract.AuditResolution)} {
			if at.Before(from) || at.After(now) {
				continue
			}
			if n := covered(at); n != 1 {
				t.Errorf("%s is in %d windows", at.Format(time.RFC3339Nano), n)
			}
		}
	}
	if last := ws[len(ws)-1]; last.Until.Before(now) {
		t.Errorf("the windows end at %s, before now", last.Until)
	}
	if len(ws) != 4 {
		t.Errorf("%d windows, want 4: %v", len(ws), ws)
	}
}
