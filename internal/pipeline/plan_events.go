package pipeline

import (
	"context"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
)

// eventsJob sizes one Events API source: its pages from the first day the
// run asks for, by totals or by probing day windows.
type eventsJob struct {
	src   extract.EventSource
	first time.Time // the first day the run asks for (after= the day before)
	rows  int64
	pages int64
	basis string
	err   error
}

// eventsJobs are the pipeline's Events API sources, each starting where
// eventsUnit would.
func (p *planner) eventsJobs(r *Runner, pl config.Pipeline, s *scopes) []*eventsJob {
	if !pl.HasStream(schemas.EventsStream) {
		return nil
	}
	var srcs []extract.EventSource
	for _, pr := range s.projects {
		srcs = append(srcs, extract.EventSource{Kind: schemas.ScopeProject, ID: pr.ID})
	}
	for _, u := range s.users {
		srcs = append(srcs, extract.EventSource{Kind: schemas.ScopeUser, ID: u.ID})
	}
	if s.me != nil {
		srcs = append(srcs, extract.EventSource{Kind: schemas.ScopeCurrentUser})
	}
	var out []*eventsJob
	for _, src := range srcs {
		wm, ok := p.watermark(r, load.WatermarkKey{Pipeline: pl.Name, Scope: src.String(), Stream: schemas.EventsStream.Name()})
		from := pl.Since
		if ok && wm.After(from) {
			from = wm
		}
		afterDay := from.UTC().Truncate(24*time.Hour).AddDate(0, 0, -eventsOverlapDays)
		out = append(out, &eventsJob{src: src, first: afterDay.AddDate(0, 0, 1)})
	}
	return out
}

func (p *planner) eventsExtent(ctx context.Context, src extract.EventSource, w extract.DayWindow) (ext extract.Extent, err error) {
	err = p.timed(classEvents, func() error {
		ext, err = p.c.EventsExtent(ctx, src, w)
		return err
	})
	return ext, err
}

// sizeEvents counts the source's events from j.first on: GitLab's totals,
// or, past 10,000 rows, the sum over day windows.
func (p *planner) sizeEvents(ctx context.Context, j *eventsJob) error {
	ext, err := p.eventsExtent(ctx, j.src, extract.DayWindow{First: j.first})
	if err != nil {
		return err
	}
	if ext.Known() {
		j.rows, j.pages, j.basis = ext.Total, ext.TotalPages, "totals"
		return nil
	}
	today := p.c.ServerNow().UTC().Truncate(24 * time.Hour)
	whole := span{lo: j.first, hi: latest(today, j.first), last: true}
	rows, how, err := sizeBySplitting(ctx, whole, 24*time.Hour, maxCountProbes, func(ctx context.Context, s span) (extract.Extent, error) {
		w := extract.DayWindow{First: s.lo, Last: s.hi}
		if s.last {
			w.Last = time.Time{}
		}
		return p.eventsExtent(ctx, j.src, w)
	})
	j.rows, j.pages, j.basis = rows, ceilDiv(rows, pageRows), windowBasis("day_windows", how)
	return err
}

func (j *eventsJob) cost() Cost {
	return Cost{Requests: eventsListingRequests(j.pages), Rows: j.rows, From: j.first, Basis: j.basis}
}

// eventsListingRequests is what reading an Events API listing of pages
// pages costs a run (eventsRun.read): a listing GitLab counts (up to
// fanOutPages pages) is read page by page at once, a request a page; a
// longer one is split uncountedParts ways, and its parts again, until
// GitLab counts each. Each split discards the first page it looked at, and
// each window counted ends on a page only part full: about half a request
// more each.
func eventsListingRequests(pages int64) int64 {
	if pages <= fanOutPages {
		return max(pages, 1)
	}
	splits, windows := int64(0), int64(1)
	for per := pages; per > fanOutPages; per = ceilDiv(per, uncountedParts) {
		splits += windows
		windows *= uncountedParts
	}
	return pages + splits + ceilDiv(windows, 2)
}
