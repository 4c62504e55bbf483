package pipeline

import (
	"context"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// eventsOverlapDays is how many whole days before the watermark's day an
// incremental run re-reads. GitLab's after=D drops all of day D, and D is
// a day in the *server's* time zone, so asking for after=(watermark day - 2)
// covers the watermark's whole day in any zone; re-read rows are dropped
// by id in the warehouse.
const eventsOverlapDays = 2

// splitPages is the most pages a window of an Events API listing is read
// in one serial chain: a bigger one is split into day windows read in
// parallel, since a chain of pages, each waiting for the one before, is
// what bounds a big project's backfill, not the pool.
const splitPages = 8

const day = 24 * time.Hour

// eventsUnit reads one Events API source from its watermark on, in day
// windows read in parallel when the listing is big.
//
// Windows make crash recovery finer, not the watermark looser: a finished
// window whose days are all in the past is recorded (load.Window) with the
// first batch stored after it finished (which holds its last rows), so
// that a run that stops half way re-reads only the windows it had not
// finished, and those of its last batch; the watermark moves only when
// every window is stored. The window that reaches today is never recorded: rows can still
// arrive in it.
//
// keep, when not nil, chooses the rows to store (see scopes.keepEvent);
// the others still count as read, for windows and the watermark.
func (r *Runner) eventsUnit(pl config.Pipeline, src extract.EventSource, keep func(*extract.Event) bool) unit {
	key := load.WatermarkKey{Pipeline: pl.Name, Scope: src.String(), Stream: schemas.EventsStream.Name()}
	return r.windowedUnit(pl, key, schemas.Events, func(ctx context.Context, w *windowed, from time.Time, done []load.Window) error {
		u := &eventsRun{windowed: w, src: src, keep: keep}
		first := from.UTC().Truncate(day).AddDate(0, 0, 1-eventsOverlapDays)
		return u.run(ctx, remaining(first, done))
	})
}

// remaining returns the windows from day first on that done does not
// cover, by day; the last one is open-ended.
func remaining(first time.Time, done []load.Window) []extract.DayWindow {
	var out []extract.DayWindow
	cur := first
	for _, d := range done {
		if d.Last.Before(cur) {
			continue
		}
		if d.First.After(cur) {
			out = append(out, extract.DayWindow{First: cur, Last: d.First.AddDate(0, 0, -1)})
		}
		cur = d.Last.AddDate(0, 0, 1)
	}
	return append(out, extract.DayWindow{First: cur})
}

// eventsRun is one run of an events unit.
type eventsRun struct {
	*windowed
	src  extract.EventSource
	keep func(*extract.Event) bool // nil keeps every row
}

func (u *eventsRun) run(ctx context.Context, windows []extract.DayWindow) error {
	if err := drain(ctx, u.r.Concurrency, windows, u.read); err != nil {
		return err
	}
	return u.finish(ctx, u.newest)
}

// read reads window w, or, if its first page shows it too big for one
// chain of pages, returns its parts instead (the first page is then read
// again by the first part: one request per split). A finished window
// that lies in the past is recorded with its last rows.
func (u *eventsRun) read(ctx context.Context, w extract.DayWindow) ([]extract.DayWindow, error) {
	var parts []extract.DayWindow
	var newest time.Time
	split, err := u.r.Client.EventsWindow(ctx, u.src, w, func(ext extract.Extent, rows []extract.Event) bool {
		parts = u.split(w, ext, rows)
		return len(parts) > 1
	}, func(evs []extract.Event) error {
		return addPage(ctx, u.windowed, evs, func(e *extract.Event) time.Time { return e.CreatedAt },
			func(e *extract.Event) {
				if u.keep == nil || u.keep(e) {
					transform.AppendEvent(u.b, u.refs, e)
				}
			}, &newest)
	})
	if err != nil || !split {
		parts = nil
	}
	if err != nil || split {
		return parts, err
	}
	if w.Last.IsZero() {
		return nil, nil // reaches today: recorded by the watermark only
	}
	return nil, u.record(ctx, load.Window{WatermarkKey: u.key, First: w.First, Last: w.Last, Newest: newest})
}

// split decides from window w's first page whether to read it in parts,
// and returns them (none: read it whole). A window is split when its
// listing is longer than splitPages (or too long for GitLab to count),
// into parts of about splitPages pages each, by days. The days are spaced
// from the first row's day on (rows come in id order, so older ones are
// rare: imports), but the first part still starts where w does, so that
// the parts cover w exactly. The part that reaches today stays open-ended
// and at least two days long, so that every closed part lies wholly in the
// past in any time zone and no row can arrive in it once it is read.
func (u *eventsRun) split(w extract.DayWindow, ext extract.Extent, rows []extract.Event) []extract.DayWindow {
	if ext.Known() && ext.TotalPages <= splitPages {
		return nil
	}
	first := w.First
	if len(rows) > 0 {
		if d := rows[0].CreatedAt.UTC().Truncate(day).AddDate(0, 0, -1); d.After(first) {
			first = d
		}
	}
	last := w.Last
	var parts []extract.DayWindow
	if last.IsZero() {
		tail := u.r.Client.ServerNow().UTC().Truncate(day).AddDate(0, 0, -1)
		if !tail.After(first) {
			return nil
		}
		parts = append(parts, extract.DayWindow{First: tail})
		last = tail.AddDate(0, 0, -1)
	}
	n := 2 * u.r.Concurrency // GitLab stopped counting: more than 100 pages
	if ext.Known() {
		n = int((ext.TotalPages + splitPages - 1) / splitPages)
	}
	if first.After(last) {
		first = last
	}
	days := int(last.Sub(first).Hours()/24) + 1
	n = max(1, min(n, days))
	if n == 1 && len(parts) == 0 {
		return nil
	}
	var closed []extract.DayWindow
	for i := range n {
		a, b := first.AddDate(0, 0, i*days/n), first.AddDate(0, 0, (i+1)*days/n-1)
		closed = append(closed, extract.DayWindow{First: a, Last: b})
	}
	closed[0].First = w.First
	return append(closed, parts...)
}
