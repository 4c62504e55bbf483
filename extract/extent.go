package extract

import (
	"context"
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
	_, err := c.EventsWindow(ctx, src, w, func(e Extent, _ []Event) Sizing { ext = e; return ReadInParts },
		func([]Event) error { return nil })
	return ext, err
}

// ListedParent is a parent as its listing shows it.
type ListedParent struct {
	Parent
	UpdatedAt time.Time
}

// ParentsExtent reads page 1 of the listing ListParents sends for parents
// of kind k in the scope with id scopeID (a project; a group for epics)
// updated in w, and returns the extent and the page's parents, oldest
// update first. Epics on a Free group answer 403 (ErrForbidden) or 404.
func (c *Client) ParentsExtent(ctx context.Context, k schemas.ParentKind, scopeID int64, since, until time.Time) (Extent, []ListedParent, error) {
	w := UpdatedWindow{From: since, Until: until}
	switch k {
	case schemas.ParentIssue:
		return extentOf(ctx, c, k, scopeID, w, func(i *Issue) ListedParent {
			return ListedParent{Parent{Type: k, ID: i.ID, IID: i.IID, ProjectID: i.ProjectID}, i.UpdatedAt}
		})
	case schemas.ParentMergeRequest:
		return extentOf(ctx, c, k, scopeID, w, func(m *MergeRequest) ListedParent {
			return ListedParent{Parent{Type: k, ID: m.ID, IID: m.IID, ProjectID: m.ProjectID}, m.UpdatedAt}
		})
	default:
		return extentOf(ctx, c, k, scopeID, w, func(e *Epic) ListedParent {
			return ListedParent{Parent{Type: k, ID: e.ID, IID: e.IID, GroupID: e.GroupID}, e.UpdatedAt}
		})
	}
}

// extentOf reads page 1 of the listing of w: the listing's extent and
// its rows, made into parents by conv. It costs one request.
func extentOf[T any, P ParentRow[T]](ctx context.Context, c *Client, k schemas.ParentKind, scopeID int64, w UpdatedWindow,
	conv func(*T) ListedParent) (Extent, []ListedParent, error) {
	var ext Extent
	var out []ListedParent
	_, err := ListParents[T, P](ctx, c, k, scopeID, w, func(e Extent, rows []T) bool {
		ext = e
		for i := range rows {
			out = append(out, conv(&rows[i]))
		}
		return true
	}, func([]T) error { return nil })
	return ext, out, err
}
