package pipeline

import (
	"testing"

	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// fullBenchScale is the instance of BenchmarkFullRun.
func fullBenchScale() gitlabfake.Scale {
	return gitlabfake.Scale{IssuesPerProject: 200, MRsPerProject: 80, EpicsPerGroup: 20,
		EventsPerProject: 30_000, BigProjectEvents: 60_000}
}

// BenchmarkPlanEstimate checks `labtrail plan` on the BenchmarkFullRun
// instance: it plans a first run, runs it, adds activity, plans the
// incremental run and runs it, and reports each estimate of requests over
// what the run then made (1 is exact; the target is 0.8 to 1.2) and the
// plans' own requests. The timer covers the two plans only.
func BenchmarkPlanEstimate(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b, gitlabfake.Options{Seed: 42, Scale: fullBenchScale()}, acmePipeline)
		h.batch = 0 // the production default
		ratios := map[string]float64{}
		var planRequests float64
		for _, what := range []string{"first run", "incremental run"} {
			if what == "incremental run" {
				h.fake.AddActivity(7)
			}
			b.StartTimer()
			p := h.plan()
			b.StopTimer()
			planRequests += float64(p.PlanRequests)
			ratios[what] = h.estimateRatio(what, p)
			if r := ratios[what]; r < 0.8 || r > 1.2 {
				b.Errorf("%s: estimate/actual %.3f, outside 0.8 to 1.2", what, r)
			}
		}
		b.ReportMetric(ratios["first run"], "first-estimate/actual")
		b.ReportMetric(ratios["incremental run"], "incremental-estimate/actual")
		b.ReportMetric(planRequests/2, "plan-requests")
		b.StartTimer()
	}
}
