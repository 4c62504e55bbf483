package pipeline

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// BenchmarkActivityCost measures what the activity stream costs on the
// bench instance, over a full run and over an incremental one after a day
// of activity: its requests (notes pages and username lookups) per parent
// it read, the figure the README quotes. The users: scope's own lookup
// (alice) is not the stream's.
func BenchmarkActivityCost(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b, gitlabfake.Options{Seed: 42, Scale: fullBenchScale()}, acmePipeline)
		h.batch = 0
		for run, name := range []string{"full", "incremental"} {
			if run > 0 {
				h.fake.AddActivity(43)
			}
			h.fake.ResetRequests()
			var counters *Counters
			b.StartTimer()
			res, _, err := h.runWith(context.Background(), func(j *Job) { counters = j.Counters })
			b.StopTimer()
			if err != nil || len(res.Failures) > 0 {
				b.Fatalf("%s run: %v %+v", name, err, res.Failures)
			}
			var parents, lookups int64
			for _, s := range counters.Streams() {
				if s.Name == "activity" {
					parents, lookups = s.Parents.Load(), s.Lookups.Load()
				}
			}
			req := h.fake.Requests()
			all := 0
			for _, n := range req {
				all += n
			}
			if parents == 0 {
				b.Fatalf("%s run read no parent's notes", name)
			}
			b.ReportMetric(float64(int64(req["notes"])+lookups)/float64(parents), name+"-activity-req/parent")
			b.ReportMetric(float64(lookups), name+"-username-lookups")
			b.ReportMetric(float64(parents), name+"-activity-parents")
			b.ReportMetric(100*float64(int64(req["notes"])+lookups)/float64(all), name+"-activity-%-of-requests")
			b.ReportMetric(float64(res.Rows["activity"]), name+"-activity-rows")
		}
	}
}

// BenchmarkFullRun is the speed and memory target of a first run: a full
// backfill of an instance with more than 100,000 events over HTTP from the
// built-in server into both sinks. It reports events/s, requests/s and the
// peak Go heap (sampled every 5 ms) of the whole process, server included.
func BenchmarkFullRun(b *testing.B) {
	scale := fullBenchScale()
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
