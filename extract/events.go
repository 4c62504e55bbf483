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
	q := url.Values{"sort": {"asc"}}
	if !afterDay.IsZero() {
		q.Set("after", afterDay.Format(time.DateOnly))
	}
	// current_user sends no scope: GitLab's scope=all would widen /events
	// to every event of every project the token can see.
	return listAll(ctx, c, src.path(), q, fn)
}
