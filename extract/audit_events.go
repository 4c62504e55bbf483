package extract

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// AuditScope is where audit events are listed: a project, a group, or the
// instance (administrators only).
type AuditScope struct {
	Kind schemas.ScopeKind // project, group or instance
	ID   int64             // project or group id; unused for the instance
}

func (s AuditScope) path() (string, error) {
	switch s.Kind {
	case schemas.ScopeProject:
		return "projects/" + strconv.FormatInt(s.ID, 10) + "/audit_events", nil
	case schemas.ScopeGroup:
		return "groups/" + strconv.FormatInt(s.ID, 10) + "/audit_events", nil
	case schemas.ScopeInstance:
		return "audit_events", nil
	}
	return "", fmt.Errorf("audit events: no audit events for a %s scope", s.Kind)
}

// String names the scope in logs and watermark keys.
func (s AuditScope) String() string { return s.Kind.Key(s.ID) }

// MaxAuditWindow is the longest span GitLab answers audit events for in
// one query. GitLab documents the limit for the instance endpoint; labtrail
// keeps to it on every endpoint, so a scope never depends on an
// undocumented allowance.
const MaxAuditWindow = 30 * 24 * time.Hour

// AuditResolution is the finest instant GitLab tells apart in
// created_after/created_before: its database stores timestamps in
// microseconds (it only renders milliseconds). Adjacent windows are one
// resolution step apart, so that with inclusive bounds no instant is read
// by two windows and none by neither.
const AuditResolution = time.Microsecond

// auditTime is how created_after and created_before are spelled: UTC, to
// the microsecond.
const auditTime = "2006-01-02T15:04:05.000000Z"

// AuditWindow is a span of audit events' created_at, From to Until, both
// inclusive, as GitLab's created_after and created_before take them.
type AuditWindow struct{ From, Until time.Time }

// AuditWindows splits the span from from to the end of until's UTC day
// into the windows a listing reads: each at most MaxAuditWindow long, the
// first starting at from and every later one at a UTC midnight (so that
// the windows of later runs line up with those recorded by day), each
// ending one AuditResolution before the next begins. The last one runs to
// the end of its 30th day even if until comes sooner: a window that
// reaches into the future costs nothing more, and keeps its bounds while
// the days pass. A zero or later-than-until from gives no window.
func AuditWindows(from, until time.Time) []AuditWindow {
	from = from.UTC()
	if from.IsZero() || until.Before(from) {
		return nil
	}
	var out []AuditWindow
	for start := from; !start.After(until); {
		next := start.Truncate(24 * time.Hour).Add(MaxAuditWindow)
		out = append(out, AuditWindow{From: start, Until: next.Add(-AuditResolution)})
		start = next
	}
	return out
}

// AuditEvents pages the scope's audit events created in w, newest first,
// with keyset pagination (GitLab deprecated offset paging for them in
// 17.8 and announced its removal for 19.0). A window longer than
// MaxAuditWindow is refused before anything is sent. Without the licence
// or the role GitLab answers 403 (ErrForbidden), sometimes 404.
func (c *Client) AuditEvents(ctx context.Context, s AuditScope, w AuditWindow, fn func([]AuditEvent) error) error {
	path, err := s.path()
	if err != nil {
		return err
	}
	if w.From.IsZero() || w.Until.Before(w.From) || w.Until.Sub(w.From) > MaxAuditWindow {
		return fmt.Errorf("audit events of %s: window %s to %s is not a span of at most 30 days", s,
			w.From.UTC().Format(auditTime), w.Until.UTC().Format(auditTime))
	}
	q := url.Values{"created_after": {w.From.UTC().Format(auditTime)}, "created_before": {w.Until.UTC().Format(auditTime)}}
	return listKeyset[AuditEvent](ctx, c, path, q, fn)
}
