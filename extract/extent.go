package extract

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// The extent helpers read the first page of a listing a run reads, and
// only that page: one request each, for `labtrail plan`. They send the
// run's own query (filters, order, per_page=100), so that GitLab's totals
// count what a run would page through.

// EventsExtent reads page 1 of the source's events in window w, the query
// EventsWindow sends, and returns the listing's extent. Past 10,000 rows
// GitLab omits the totals (Extent.Known is false); a narrower window has
// them again.
func (c *Client) EventsExtent(ctx context.Context, src EventSource, w DayWindow) (Extent, error) {
	var ext Extent
	_, err := c.EventsWindow(ctx, src, w, func(e Extent, _ []Event) bool { ext = e; return true },
		func([]Event) error { return nil })
	return ext, err
}

// ListedParent is a parent as its listing shows it.
type ListedParent struct {
	Parent
	UpdatedAt time.Time
}

// parentsWireTime is how Issues, MergeRequests and Epics spell
// updated_after (UTC, milliseconds).
const parentsWireTime = "2006-01-02T15:04:05.000Z"

// ParentsExtent reads page 1 of the listing Issues, MergeRequests or Epics
// sends for parents of kind k in the scope with id scopeID (a project; a
// group for epics) updated at or after since, and, unless until is zero, at
// or before until (updated_before, for counting a listing too big for
// GitLab to count in parts). It returns the extent and the page's parents,
// oldest update first. Epics on a Free group answer 403 (ErrForbidden) or
// 404.
func (c *Client) ParentsExtent(ctx context.Context, k schemas.ParentKind, scopeID int64, since, until time.Time) (Extent, []ListedParent, error) {
	q := url.Values{"state": {"all"}, "order_by": {"updated_at"}, "sort": {"asc"}}
	if !since.IsZero() {
		q.Set("updated_after", since.UTC().Format(parentsWireTime))
	}
	if !until.IsZero() {
		q.Set("updated_before", until.UTC().Format(parentsWireTime))
	}
	id := strconv.FormatInt(scopeID, 10)
	switch k {
	case schemas.ParentIssue:
		q.Set("scope", "all")
		return extentOf(ctx, c, "projects/"+id+"/issues", q, func(i *Issue) ListedParent {
			return ListedParent{Parent{Type: k, ID: i.ID, IID: i.IID, ProjectID: i.ProjectID}, i.UpdatedAt}
		})
	case schemas.ParentMergeRequest:
		q.Set("scope", "all")
		return extentOf(ctx, c, "projects/"+id+"/merge_requests", q, func(m *MergeRequest) ListedParent {
			return ListedParent{Parent{Type: k, ID: m.ID, IID: m.IID, ProjectID: m.ProjectID}, m.UpdatedAt}
		})
	case schemas.ParentEpic:
		return extentOf(ctx, c, "groups/"+id+"/epics", q, func(e *Epic) ListedParent {
			return ListedParent{Parent{Type: k, ID: e.ID, IID: e.IID, GroupID: e.GroupID}, e.UpdatedAt}
		})
	default:
		return Extent{}, nil, fmt.Errorf("parents extent: unknown parent kind %q", k)
	}
}

// extentOf reads page 1 of path with q: the listing's extent and its rows,
// made into parents by conv. It costs one request.
func extentOf[T any, P Row[T]](ctx context.Context, c *Client, path string, q url.Values, conv func(*T) ListedParent) (Extent, []ListedParent, error) {
	var ext Extent
	var out []ListedParent
	_, err := listRestarting[T, P](ctx, c, path, q, func([]T) error { return nil }, hooks[T]{sized: func(e Extent, rows []T) bool {
		ext = e
		for i := range rows {
			out = append(out, conv(&rows[i]))
		}
		return true
	}})
	return ext, out, err
}
