// Command demo-gitlab serves the deterministic fake GitLab instance of
// package gitlabfake, for `make demo` and manual exploration:
//
//	demo-gitlab -addr 127.0.0.1:8929 -token demo-token -seed 1
//	curl -H 'PRIVATE-TOKEN: demo-token' http://127.0.0.1:8929/api/v4/projects/acme%2Fapi/events
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/internal/gitlabfake/faults"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo-gitlab:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8929", "listen address")
	token := flag.String("token", "demo-token", "accepted API token (PRIVATE-TOKEN or Authorization: Bearer)")
	seed := flag.Int64("seed", 1, "seed of the generated instance")
	scale := flag.String("scale", "small", "instance size: small (defaults, ~12k events), large (~150k events) or bench (the BenchmarkFullRun instance, ~140k events)")
	times := flag.Int("times", 1, "multiply the events and parents (issues, MRs, epics) of -scale by this, for measuring growth with history")
	failEvery := flag.Int("fail-every", 0, "fail every Nth request with a 5xx (0 = never)")
	cutEvery := flag.Int("cut-every", 0, "cut every Nth response body halfway (0 = never)")
	rateLimit := flag.Float64("rate-limit", 0, "max requests per second, 429 above it (0 = unlimited)")
	latency := flag.Duration("latency", 0, "delay every answer this long (0 = none)")
	perMinute := flag.Int("ratelimit-per-minute", 0, "requests a minute advertised in RateLimit-* headers, which labtrail paces itself by (0 = GitLab.com's 2000)")
	flag.Parse()

	sc := gitlabfake.DefaultScale()
	switch *scale {
	case "small", "":
	case "large":
		sc = gitlabfake.Scale{IssuesPerProject: 500, MRsPerProject: 250, EpicsPerGroup: 40,
			EventsPerProject: 10_000, BigProjectEvents: 120_000}
	case "bench":
		sc = gitlabfake.Scale{IssuesPerProject: 200, MRsPerProject: 80, EpicsPerGroup: 20,
			EventsPerProject: 30_000, BigProjectEvents: 60_000}
	default:
		return fmt.Errorf("unknown -scale %q (small, large or bench)", *scale)
	}
	if *times < 1 {
		return fmt.Errorf("-times %d: want 1 or more", *times)
	}
	sc.IssuesPerProject *= *times
	sc.MRsPerProject *= *times
	sc.EpicsPerGroup *= *times
	sc.EventsPerProject *= *times
	sc.BigProjectEvents *= *times
	fake := gitlabfake.New(gitlabfake.Options{Seed: *seed, Token: *token, Scale: sc, RateLimitPerMinute: *perMinute})
	fake.Faults().Set(faults.Settings{FailEvery: *failEvery, CutEvery: *cutEvery, RateLimit: *rateLimit, Latency: *latency})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// POST /demo/activity adds a day of new activity, so that `make demo`
	// can show an incremental run. It is not a GitLab route.
	mux := http.NewServeMux()
	var seq atomic.Int64
	mux.HandleFunc("POST /demo/activity", func(w http.ResponseWriter, r *http.Request) {
		sum := fake.AddActivity(*seed*1000 + seq.Add(1))
		fmt.Fprintf(w, "%+v\n", sum)
	})
	mux.Handle("/", fake)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "demo GitLab listening on http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
