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

// fanOutPages is the most pages of a window whose count its first page
// gives that are read at once, each page a request of its own, rather
// than split in day windows: GitLab counts listings up to 10,000 rows (100
// pages), and a window it counts is read in one round trip of the pool,
// with no window ending on a page only part full but its last.
const fanOutPages = 100

// uncountedParts is how many day windows a window GitLab did not count
// (more than 100 pages) is split into.
const uncountedParts = 8

const day = 24 * time.Hour

// eventsUnit reads one Events API source from its watermark on: a
// listing GitLab counts page by page at once, a longer one in day windows
// read in parallel (see eventsRun.read).
//
// Windows make crash recovery finer, not the watermark looser: a finished
// window whose days are all in the past is recorded (load.Window) with the
// first batch stored after it finished (which holds its last rows), so
// that a run that stops half way re-reads only the windows it had not
// finished, and those of its last batch; the watermark moves only when
// every window is stored. The window that reaches today is never
// recorded: rows can still arrive in it.
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
	tasks := make([]eventsTask, len(windows))
	for i, w := range windows {
		tasks[i] = eventsTask{w: w}
	}
	if err := drain(ctx, u.r.Concurrency, tasks, u.read); err != nil {
		return err
	}
	return u.finish(ctx, u.newest)
}

// eventsTask is a piece of an events run's listing: a window, read from
// its first page, or one page of a window whose first page counted its
// pages (of).
type eventsTask struct {
	w      extract.DayWindow
	page   int64   // 0: the window from its first page; else this page of it
	follow bool    // page is the last one counted: read on while the server names a next
	of     *fanOut // the window page belongs to
}

// fanOut is a window read page by page, every page at once: it is
// finished, and recorded, when the last of its pages is read.
type fanOut struct {
	left   int64     // pages not read yet; under the unit's mu
	newest time.Time // under the unit's mu
}

// read reads task t: a window from its first page or one page of a
// window. A window whose first page shows it too big for one request per
// page (not counted by GitLab) returns its parts instead (the first page
// is then read again by the first part: one request per split); a window
// it counts returns its other pages, read at once. Rows go to the unit's
// builder; a finished window that lies in the past is recorded with its
// last rows.
func (u *eventsRun) read(ctx context.Context, t eventsTask) ([]eventsTask, error) {
	if t.page > 0 {
		return nil, u.readPage(ctx, t)
	}
	w := t.w
	var sizing extract.Sizing
	var parts []extract.DayWindow
	var pages int64
	var newest time.Time
	stopped, err := u.r.Client.EventsWindow(ctx, u.src, w, func(ext extract.Extent, rows []extract.Event) extract.Sizing {
		switch {
		case ext.Known() && ext.TotalPages > 1 && ext.TotalPages <= fanOutPages:
			pages, sizing = ext.TotalPages, extract.ReadFirstOnly
		default:
			if parts = u.split(w, ext, rows); len(parts) > 1 {
				sizing = extract.ReadInParts
			}
		}
		return sizing
	}, u.add(ctx, &newest))
	switch {
	case err != nil:
		return nil, err
	case !stopped:
		// Read whole, or a first page that named no next one: the
		// listing ended there, whatever its count said.
	case sizing == extract.ReadInParts:
		tasks := make([]eventsTask, len(parts))
		for i, p := range parts {
			tasks[i] = eventsTask{w: p}
		}
		return tasks, nil
	case sizing == extract.ReadFirstOnly:
		// The other pages the first one counted, read at once.
		f := &fanOut{left: pages - 1, newest: newest}
		tasks := make([]eventsTask, 0, pages-1)
		for k := int64(2); k <= pages; k++ {
			tasks = append(tasks, eventsTask{w: w, page: k, follow: k == pages, of: f})
		}
		return tasks, nil
	}
	return nil, u.windowRead(ctx, w, newest)
}

// readPage reads one page of a fanned-out window (on to the listing's end
// from its last counted page), and finishes the window after its last
// page.
func (u *eventsRun) readPage(ctx context.Context, t eventsTask) error {
	var newest time.Time
	if err := u.r.Client.EventsPages(ctx, u.src, t.w, t.page, t.follow, u.add(ctx, &newest)); err != nil {
		return err
	}
	u.mu.Lock()
	f := t.of
	f.left--
	if newest.After(f.newest) {
		f.newest = newest
	}
	left, newest := f.left, f.newest
	u.mu.Unlock()
	if left > 0 {
		return nil
	}
	return u.windowRead(ctx, t.w, newest)
}

// add returns the function a listing hands its pages to: it appends the
// rows the unit keeps and moves newest (the window's, under the unit's
// lock) past them.
func (u *eventsRun) add(ctx context.Context, newest *time.Time) func([]extract.Event) error {
	return func(evs []extract.Event) error {
		return addPage(ctx, u.windowed, evs, func(e *extract.Event) time.Time { return e.CreatedAt },
			func(e *extract.Event) {
				if u.keep == nil || u.keep(e) {
					transform.AppendEvent(u.b, u.refs, e)
				}
			}, newest)
	}
}

// windowRead records window w, every row of which is read, newest the
// newest of them; a window that reaches today is recorded by the
// watermark only.
func (u *eventsRun) windowRead(ctx context.Context, w extract.DayWindow, newest time.Time) error {
	if w.Last.IsZero() {
		return nil
	}
	return u.record(ctx, load.Window{WatermarkKey: u.key, First: w.First, Last: w.Last, Newest: newest})
}

// split decides from window w's first page whether to read it in parts,
// and returns them (none: read it whole). A window is split when GitLab
// did not count it (more than 100 pages), into uncountedParts parts, or
// when a server counted more than fanOutPages pages, into parts of about
// fanOutPages pages each, by days. The days are spaced
// from the first row's day on (rows come in id order, so older ones are
// rare: imports), but the first part still starts where w does, so that
// the parts cover w exactly. The part that reaches today stays open-ended
// and at least two days long, so that every closed part lies wholly in the
// past in any time zone and no row can arrive in it once it is read.
func (u *eventsRun) split(w extract.DayWindow, ext extract.Extent, rows []extract.Event) []extract.DayWindow {
	if ext.Known() && ext.TotalPages <= fanOutPages {
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
	n := uncountedParts
	if ext.Known() {
		n = int((ext.TotalPages + fanOutPages - 1) / fanOutPages)
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
