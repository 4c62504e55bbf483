package pipeline

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

// span is a part of a listing: lo to hi, both included, in whole steps (a
// day for events, a millisecond for parents' updated_at). The listing's
// last part (last) is asked for without an upper bound.
type span struct {
	lo, hi time.Time
	last   bool
}

// sizeBySplitting estimates the rows of the listing whole, which holds more
// than GitLab counts (its totals are omitted past 10,000 rows): it halves
// whole, and every half that is still uncounted, breadth first, counting
// each half with count (one request), within budget requests. A part left
// uncounted (the budget is spent, or it is one step long) is taken at the
// counted parts' density, and at least 10,001 rows. how says which:
// "counted" (no part was), "extrapolated", or "lower_bound" (no part could
// be counted).
func sizeBySplitting(ctx context.Context, whole span, step time.Duration, budget int,
	count func(context.Context, span) (extract.Extent, error)) (rows int64, how string, err error) {
	pending := []span{whole}
	var counted int64
	var countedLen time.Duration
	var uncounted []span
	for len(pending) > 0 {
		s := pending[0]
		pending = pending[1:]
		steps := int64(s.hi.Sub(s.lo)/step) + 1
		if steps < 2 || budget < 2 {
			uncounted = append(uncounted, s)
			continue
		}
		mid := s.lo.Add(time.Duration(steps/2-1) * step)
		for _, half := range []span{{lo: s.lo, hi: mid}, {lo: mid.Add(step), hi: s.hi, last: s.last}} {
			budget--
			ext, err := count(ctx, half)
			if err != nil {
				return 0, "", err
			}
			if !ext.Known() {
				pending = append(pending, half)
				continue
			}
			counted += ext.Total
			countedLen += half.hi.Sub(half.lo) + step
		}
	}
	rows = counted
	for _, s := range uncounted {
		est := int64(gitlabCountLimit + 1)
		if countedLen > 0 {
			est = max(est, int64(float64(counted)*float64(s.hi.Sub(s.lo)+step)/float64(countedLen)))
		}
		rows += est
	}
	switch {
	case len(uncounted) == 0:
		return rows, "counted", nil
	case countedLen > 0:
		return rows, "extrapolated", nil
	default:
		return rows, "lower_bound", nil
	}
}

// windowBasis names how a listing counted in windows was sized.
func windowBasis(windows, how string) string {
	if how == "counted" {
		return windows
	}
	return how
}

// ---- wall time ----

// wallTimes fills in the latency measured and the wall time of the plan's
// requests at each of the rates that can bound a run. At concurrency, each
// class of requests takes the median latency of its class as the plan
// measured it (of all the plan's requests, for a class it sent none of).
func (p *planner) wallTimes(out *Plan, rate *extract.AdvertisedRate, rps float64) {
	byClass := map[string]int64{}
	for _, pp := range out.Pipelines {
		byClass[""] += pp.ResolveRequests
		for _, sp := range pp.Scopes {
			for _, c := range sp.Listings {
				byClass[classListings] += c.Requests
			}
			for name, c := range sp.Streams {
				class := classResource
				if name == schemas.EventsStream.Name() || name == schemas.AuditEventsStream.Name() {
					class = classEvents
				}
				byClass[class] += c.Requests
			}
		}
	}
	p.mu.Lock()
	var all []time.Duration
	for _, ds := range p.latencies {
		all = append(all, ds...)
	}
	var busy time.Duration
	for class, n := range byClass {
		lat := median(p.latencies[class])
		if len(p.latencies[class]) == 0 {
			lat = median(all)
		}
		busy += time.Duration(n) * lat
	}
	p.mu.Unlock()
	total := float64(out.TotalRequests)
	if total > 0 {
		out.MeasuredLatencyMS = round(float64(busy)/total/float64(time.Millisecond), 2)
	}
	out.SecondsAtConcurrency = round(busy.Seconds()/float64(max(out.Concurrency, 1)), 2)
	out.ExpectedSeconds = out.SecondsAtConcurrency
	if perMinute, ok := rate.PerMinute(); ok {
		s := round(total/(float64(perMinute)/60), 2)
		out.AdvertisedRequestsPerMinute, out.SecondsAtAdvertisedRate = &perMinute, &s
		out.ExpectedSeconds = max(out.ExpectedSeconds, s)
	}
	if rps > 0 {
		s := round(total/rps, 2)
		out.RequestsPerSecond, out.SecondsAtRequestsPerSecond = &rps, &s
		out.ExpectedSeconds = max(out.ExpectedSeconds, s)
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func round(x float64, digits int) float64 {
	f := math.Pow(10, float64(digits))
	return math.Round(x*f) / f
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
