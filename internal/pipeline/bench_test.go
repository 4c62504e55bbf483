package pipeline

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// BenchmarkFullRun is the speed and memory target of a first run: a full
// backfill of an instance with more than 100,000 events over HTTP from the
// built-in server into both sinks. It reports events/s, requests/s and the
// peak Go heap (sampled every 5 ms) of the whole process, server included.
func BenchmarkFullRun(b *testing.B) {
	scale := gitlabfake.Scale{IssuesPerProject: 200, MRsPerProject: 80, EpicsPerGroup: 20,
		EventsPerProject: 30_000, BigProjectEvents: 60_000}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b, gitlabfake.Options{Seed: 42, Scale: scale}, acmePipeline)
		h.batch = 0 // the production default
		runtime.GC()
		var peak uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		res, c, err := h.run(context.Background())
		elapsed := time.Since(start)
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil || len(res.Failures) > 0 {
			b.Fatalf("run: %v %+v", err, res.Failures)
		}
		if res.Rows["events"] < 100_000 {
			b.Fatalf("only %d events; the target is a run over more than 100,000", res.Rows["events"])
		}
		var rows int64
		for _, n := range res.Rows {
			rows += n
		}
		b.ReportMetric(float64(res.Rows["events"])/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(c.Stats.Requests.Load())/elapsed.Seconds(), "requests/s")
		b.ReportMetric(float64(c.Stats.Requests.Load()), "requests")
		b.ReportMetric(float64(res.Rows["events"]), "events")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.StartTimer()
	}
}
