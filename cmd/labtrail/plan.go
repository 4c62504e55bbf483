package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/pipeline"
	"github.com/labtrail/labtrail/internal/tabular"
	"github.com/labtrail/labtrail/schemas"
)

// cmdPlan prints what the next run would cost (requests, rows, wall time)
// without running it: it reads the warehouse read-only and GitLab's listing
// pages only.
func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	fs := newFlagSet("plan", stderr, &c)
	format := fs.String("format", tabular.Table, "output format: table or json")
	if _, err := parse(fs, args); err != nil {
		return exitUsage
	}
	if *format != tabular.Table && *format != tabular.JSON {
		oneLine(stderr, fmt.Errorf("--format: want table or json, got %q", *format))
		return exitUsage
	}
	cfg, err := c.load(stderr, os.LookupEnv)
	if err != nil {
		return exitUsage // every problem is printed
	}
	log, err := c.logger(stderr)
	if err != nil {
		oneLine(stderr, err)
		return exitUsage
	}
	shard, _ := c.sharding() // checked by load
	plan, err := pipeline.Planner{Config: cfg, Token: cfg.GitLab.Token(os.LookupEnv), Log: log, Shard: shard}.Plan(ctx)
	if err != nil {
		oneLine(stderr, err)
		switch {
		case ctx.Err() != nil:
			return exitInterrupted
		case errors.Is(err, extract.ErrUnauthorized):
			return exitToken
		}
		return exitFailed
	}
	if *format == tabular.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(plan)
	} else {
		err = writePlan(stdout, plan)
	}
	if err != nil {
		oneLine(stderr, err)
		return exitFailed
	}
	problems := 0
	for _, pp := range plan.Pipelines {
		for _, pr := range pp.Problems {
			problems++
			fmt.Fprintf(stderr, "labtrail: not sized: pipeline %s, %s %s: %s\n", pp.Name, pr.Scope, pr.Stream, pr.Error)
		}
	}
	if problems > 0 {
		fmt.Fprintf(stderr, "labtrail: %d scope(s) could not be sized; the totals leave them out\n", problems)
		return exitPartial
	}
	return exitOK
}

// writePlan prints a plan for people: per pipeline its scopes, then every
// stream and listing, then the totals and wall times.
func writePlan(w io.Writer, p pipeline.Plan) error {
	for _, pp := range p.Pipelines {
		fmt.Fprintf(w, "Pipeline %s: projects %d, groups %d, users %d, current user %v (%d requests to look them up)\n",
			pp.Name, pp.Projects, pp.Groups, pp.Users, pp.CurrentUser, pp.ResolveRequests)
		scopes := section{cols: []string{"scope", "name", "parents", "requests", "rows", "unavailable"}}
		streams := section{cols: []string{"scope", "stream", "from", "requests", "rows", "basis"}}
		for _, sp := range pp.Scopes {
			var parents []string
			for _, k := range schemas.ParentKinds() {
				if n, ok := sp.Parents[k.Table().Name]; ok {
					parents = append(parents, fmt.Sprintf("%s %d", k.Table().Name, n))
				}
			}
			scopes.rows = append(scopes.rows, []any{sp.Scope, sp.Name, strings.Join(parents, ", "),
				sp.Requests, sp.Rows, strings.Join(sp.Unavailable, ", ")})
			for _, name := range planStreamOrder() {
				c, ok := sp.Listings[name]
				if !ok {
					c, ok = sp.Streams[name]
				}
				if ok {
					streams.rows = append(streams.rows, []any{sp.Scope, name, c.From, c.Requests, c.Rows, c.Basis})
				}
			}
		}
		for _, s := range []section{scopes, streams} {
			if err := tabular.WriteValues(w, s.cols, s.rows, tabular.Table); err != nil {
				return err
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Total: %d requests, %d rows to read (the plan itself made %d requests; median latency %.1f ms)\n",
		p.TotalRequests, p.TotalRows, p.PlanRequests, p.MeasuredLatencyMS)
	at := func(what string, secs *float64) {
		if secs == nil {
			fmt.Fprintf(w, "  %-48s -\n", what)
			return
		}
		fmt.Fprintf(w, "  %-48s %s\n", what, seconds(*secs))
	}
	advertised := "at the advertised rate (none advertised)"
	if p.AdvertisedRequestsPerMinute != nil {
		advertised = fmt.Sprintf("at the advertised rate (%d/min)", *p.AdvertisedRequestsPerMinute)
	}
	rps := "at requests_per_second (not set)"
	if p.RequestsPerSecond != nil {
		rps = fmt.Sprintf("at requests_per_second (%g/s)", *p.RequestsPerSecond)
	}
	fmt.Fprintln(w, "Wall time:")
	at(advertised, p.SecondsAtAdvertisedRate)
	at(rps, p.SecondsAtRequestsPerSecond)
	at(fmt.Sprintf("at concurrency %d, %.1f ms a request", p.Concurrency, p.MeasuredLatencyMS), &p.SecondsAtConcurrency)
	at("expected (the slowest of these)", &p.ExpectedSeconds)
	return nil
}

// planStreamOrder is the order of a scope's listings and streams: parent
// listings, then streams as schemas declares them.
func planStreamOrder() []string {
	var out []string
	for _, k := range schemas.ParentKinds() {
		out = append(out, k.Table().Name)
	}
	return append(out, schemas.StreamNames()...)
}

// seconds prints a duration for people: 4m3s, 850ms.
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d >= time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	return d.String()
}
