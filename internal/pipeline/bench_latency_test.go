package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// benchLatency is the answer time of the server in BenchmarkLatency: about
// what a GitLab across a continent takes.
const benchLatency = 50 * time.Millisecond

// BenchmarkLatency measures how close a run comes to the bound a pool of
// c requests at a time sets against a server that takes benchLatency per
// answer (c / latency requests a second):
//
//   - instance: the BenchmarkFullRun instance; reports requests/s as a
//     share of that bound (1.0 = the pool never idles);
//   - big-project: one project of 200,000 events (2,000 pages); reports
//     the run's time over pages x latency / c (1.0 = perfect).
//
// Both report round-trip-ms, a request's mean time from sending to having
// its body: on a loaded 2-core machine it exceeds benchLatency by what the
// client and the fake's process add, and c / round trip is then the most
// any pool can reach here.
func BenchmarkLatency(b *testing.B) {
	for _, c := range []int{8, 32} {
		b.Run(fmt.Sprintf("instance/c%d", c), func(b *testing.B) {
			scale := gitlabfake.Scale{IssuesPerProject: 200, MRsPerProject: 80, EpicsPerGroup: 20,
				EventsPerProject: 30_000, BigProjectEvents: 60_000}
			for range b.N {
				elapsed, requests, _ := latencyRun(b, scale, acmePipeline, c)
				bound := float64(c) / benchLatency.Seconds()
				b.ReportMetric(float64(requests)/elapsed.Seconds()/bound, "share-of-bound")
				b.ReportMetric(float64(requests)/elapsed.Seconds(), "requests/s")
				b.ReportMetric(float64(requests), "requests")
			}
		})
		b.Run(fmt.Sprintf("big-project/c%d", c), func(b *testing.B) {
			scale := gitlabfake.Scale{IssuesPerProject: -1, MRsPerProject: -1, EpicsPerGroup: -1,
				EventsPerProject: 100, BigProjectEvents: 200_000}
			for range b.N {
				elapsed, requests, events := latencyRun(b, scale, bigPipeline+"    streams: [events]\n", c)
				// The project's listing has a page for every 100 of its
				// events, hidden ones included: GitLab cuts a page before
				// it drops the rows the token may not see (see
				// ../shared/gitlab-api-notes.md). The fake hides 10,066 of
				// the 200,000: 189,934 are stored, 2,000 pages are read.
				// Until 3 December 2026 the ideal counted the stored rows'
				// 1,900 pages, 5% short of the 2,000 named above.
				pages := (int64(scale.BigProjectEvents) + 99) / 100
				ideal := time.Duration(pages) * benchLatency / time.Duration(c)
				b.ReportMetric(elapsed.Seconds()/ideal.Seconds(), "time/ideal")
				b.ReportMetric(float64(requests), "requests")
				b.ReportMetric(float64(events), "events")
			}
		})
	}
}

// latencyRun runs pipeline once against a fake instance of scale that
// answers after benchLatency, with concurrency c, and returns the run's
// time, requests and events stored.
//
// The fake runs in a process of its own (startFakeProcess), as a real
// GitLab would on a machine of its own; on this 2-core machine it still
// takes CPU from the client. cpu-s is the CPU time this process (the
// client: labtrail) used during the run and server-cpu-s the fake's;
// cpu-bound is cpu-s over elapsed x the machine's cores, machine-cpu-bound
// the two together over the same. Near 1 the run waited for CPU, not for
// the server's latency, and the latency bound cannot be reached on this
// machine whatever the concurrency: (cpu-s + server-cpu-s) / cores is the
// shortest the run can take here.
func latencyRun(b *testing.B, scale gitlabfake.Scale, pipeline string, c int) (time.Duration, int64, int64) {
	b.StopTimer()
	opts := gitlabfake.Options{Seed: 42, Scale: scale, Token: token, RateLimitPerMinute: 1_000_000}
	h := newHarness(b, opts, pipeline)
	h.batch = 0 // the production default
	h.cfg.GitLab.Concurrency = c
	// The same instance, served from a process of its own: the harness's
	// in-process server stays idle.
	url, serverCPU := startFakeProcess(b, opts, benchLatency)
	h.cfg.GitLab.URL = url
	b.StartTimer()
	cpu0, server0 := cpuTime(), serverCPU()
	start := time.Now()
	res, client, err := h.run(context.Background())
	elapsed := time.Since(start)
	cpu, server := cpuTime()-cpu0, serverCPU()-server0
	b.StopTimer()
	b.ReportMetric(cpu.Seconds(), "cpu-s")
	b.ReportMetric(server.Seconds(), "server-cpu-s")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds()/float64(runtime.NumCPU()), "cpu-bound")
	b.ReportMetric((cpu+server).Seconds()/elapsed.Seconds()/float64(runtime.NumCPU()), "machine-cpu-bound")
	if err != nil || len(res.Failures) > 0 {
		b.Fatalf("run: %v %+v", err, res.Failures)
	}
	// The mean time a request took, sent to body read, against the
	// server's benchLatency: what the loaded client machine adds to every
	// request, which the concurrency / latency bound does not count.
	b.ReportMetric(float64(client.Stats.RoundTrip.Load())/float64(client.Stats.Requests.Load())/1e6, "round-trip-ms")
	// How full the pool was: the requests in flight, averaged over the
	// run, over c. share-of-bound is about pool-busy x latency / round
	// trip, so the two metrics tell a pool left idle (the run's serial
	// parts, a writer that holds the fetchers back) from round trips the
	// loaded machine made slower.
	b.ReportMetric(float64(client.Stats.RoundTrip.Load())/1e9/elapsed.Seconds()/float64(c), "pool-busy")
	return elapsed, client.Stats.Requests.Load(), res.Rows["events"]
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
