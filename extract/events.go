package extract

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// EventSource is one of the three Events API endpoints. They are views of
// one server table, so the same event id can come from several sources.
type EventSource struct {
	Kind schemas.ScopeKind // project, user or current_user
	ID   int64             // project or user id; unused for current_user
}

func (s EventSource) path() string {
	switch s.Kind {
	case schemas.ScopeProject:
		return "projects/" + strconv.FormatInt(s.ID, 10) + "/events"
	case schemas.ScopeUser:
		return "users/" + strconv.FormatInt(s.ID, 10) + "/events"
	default:
		return "events"
	}
}

// String names the source in logs and watermark keys.
func (s EventSource) String() string { return s.Kind.Key(s.ID) }

// Events pages the source's events with created_at after the whole day of
// afterDay (GitLab's after=D means "later than the end of day D"; the time
// of day in afterDay is ignored), in id order. A zero afterDay reads all.
func (c *Client) Events(ctx context.Context, src EventSource, afterDay time.Time, fn func([]Event) error) error {
	var w DayWindow
	if !afterDay.IsZero() {
		w.First = afterDay.AddDate(0, 0, 1)
	}
	_, err := c.EventsWindow(ctx, src, w, nil, fn)
	return err
}

// DayWindow is a span of whole days of an Events API listing, as the
// server counts days (in its own time zone): First to Last, both included;
// only their dates count. A zero First starts at the beginning, a zero
// Last runs to now. GitLab's after=D and before=D both exclude day D, so
// the window asks for after=First-1 and before=Last+1, and windows that
// meet (one's Last is the day before the next one's First) neither skip
// nor repeat a row, whatever the server's time zone.
type DayWindow struct{ First, Last time.Time }

// Days is the number of days in a bounded window.
func (w DayWindow) Days() int {
	return int(w.Last.Sub(w.First).Hours()/24) + 1
}

// EventsWindow pages the source's events in window w, in id order. When
// size is not nil it sees the first page's extent and rows before fn
// does, and decides what is read (see Sizing); EventsWindow reports
// whether it stopped before the listing's end: ReadInParts, or
// ReadFirstOnly when the first page names a next one.
func (c *Client) EventsWindow(ctx context.Context, src EventSource, w DayWindow, size func(Extent, []Event) Sizing, fn func([]Event) error) (bool, error) {
	return listRestarting[Event](ctx, c, src.path(), windowQuery(w), fn, hooks[Event]{sized: size})
}

// EventsPages pages the source's events in window w from page first on:
// that page alone when follow is false, otherwise on to the end (as
// EventsWindow does, by the pages each answer names next). A caller that
// read page 1 and learnt the listing's page count reads the other pages
// at once with it: pages before the last alone, the last one followed,
// so that the listing still ends only where the server names no next
// page, whatever it counted.
func (c *Client) EventsPages(ctx context.Context, src EventSource, w DayWindow, first int64, follow bool, fn func([]Event) error) error {
	_, err := listRestarting[Event](ctx, c, src.path(), windowQuery(w), fn, hooks[Event]{first: first, only: !follow})
	return err
}

// windowQuery is the query of window w's listing, oldest event first.
func windowQuery(w DayWindow) url.Values {
	q := url.Values{"sort": {"asc"}}
	if !w.First.IsZero() {
		q.Set("after", w.First.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	if !w.Last.IsZero() {
		q.Set("before", w.Last.AddDate(0, 0, 1).Format(time.DateOnly))
	}
	// current_user sends no scope: GitLab's scope=all would widen /events
	// to every event of every project the token can see.
	return q
}
