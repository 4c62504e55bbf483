package extract

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// UpdatedWindow bounds a parent listing by updated_at: From is sent as
// updated_after and Until as updated_before, both inclusive; a zero From
// lists from the beginning, a zero Until up to now. Windows that share a
// boundary instant both list the parents updated at that instant; callers
// de-duplicate by id.
type UpdatedWindow struct{ From, Until time.Time }

// ParentRow is the constraint of ListParents: an issue, merge request or
// epic, which knows when it was last updated.
type ParentRow[T any] interface {
	Row[T]
	updated() time.Time
}

func (i *Issue) updated() time.Time        { return i.UpdatedAt }
func (m *MergeRequest) updated() time.Time { return m.UpdatedAt }
func (e *Epic) updated() time.Time         { return e.UpdatedAt }

// parentListing is the path and query of the listing of parents of kind k
// in the scope with id scopeID: the one place they are spelled, for runs
// and for plans alike.
func parentListing(k schemas.ParentKind, scopeID int64) (string, url.Values, error) {
	id := strconv.FormatInt(scopeID, 10)
	switch k {
	case schemas.ParentIssue:
		return "projects/" + id + "/issues", url.Values{"scope": {"all"}, "state": {"all"}}, nil
	case schemas.ParentMergeRequest:
		return "projects/" + id + "/merge_requests", url.Values{"scope": {"all"}, "state": {"all"}}, nil
	case schemas.ParentEpic:
		// Epics of the group and, as GitLab does by default, of its
		// descendant groups.
		return "groups/" + id + "/epics", url.Values{"state": {"all"}}, nil
	default:
		return "", nil, fmt.Errorf("unknown parent kind %q", k)
	}
}

// ListParents pages the parents of kind k (T is its entity: Issue,
// MergeRequest or Epic) in the scope with id scopeID (a project; a group
// for epics) updated in w, oldest update first. A parent can be delivered
// more than once; callers de-duplicate by id. When split is not nil it
// sees the first page's extent and rows before fn does; if it returns
// true the listing stops there, nothing is handed to fn, and ListParents
// reports true. Epics are Premium: a Free group answers 403
// (ErrForbidden) or 404.
func ListParents[T any, P ParentRow[T]](ctx context.Context, c *Client, k schemas.ParentKind, scopeID int64, w UpdatedWindow,
	split func(Extent, []T) bool, fn func([]T) error) (bool, error) {
	path, q, err := parentListing(k, scopeID)
	if err != nil {
		return false, err
	}
	return listByUpdated[T, P](ctx, c, path, q, w, split, fn)
}

// Issues pages the project's issues updated at or after since; see
// ListParents.
func (c *Client) Issues(ctx context.Context, projectID int64, since time.Time, fn func([]Issue) error) error {
	_, err := ListParents(ctx, c, schemas.ParentIssue, projectID, UpdatedWindow{From: since}, nil, fn)
	return err
}

// MergeRequests is Issues for merge requests.
func (c *Client) MergeRequests(ctx context.Context, projectID int64, since time.Time, fn func([]MergeRequest) error) error {
	_, err := ListParents(ctx, c, schemas.ParentMergeRequest, projectID, UpdatedWindow{From: since}, nil, fn)
	return err
}

// Epics is Issues for the epics of a group.
func (c *Client) Epics(ctx context.Context, groupID int64, since time.Time, fn func([]Epic) error) error {
	_, err := ListParents(ctx, c, schemas.ParentEpic, groupID, UpdatedWindow{From: since}, nil, fn)
	return err
}

// listByUpdated lists by updated_at ascending and moves the updated_after
// cursor forward after every page instead of only turning pages. Offset
// pages over a listing ordered by updated_at shift whenever a parent is
// edited during the listing: the edited row jumps to the end and the rows
// behind it slide back onto a page already read, where plain offset paging
// would never see them. Restarting at page 1 from the newest updated_at
// seen is immune to that; rows equal to the cursor come again (the filter is
// inclusive) and are de-duplicated by the caller. When a whole page shares
// one updated_at, the cursor cannot move and the next page is followed.
// Paging still ends only when the server names no next page.
func listByUpdated[T any, P ParentRow[T]](ctx context.Context, c *Client, path string, q url.Values, w UpdatedWindow,
	split func(Extent, []T) bool, fn func([]T) error) (bool, error) {
	q.Set("order_by", "updated_at")
	q.Set("sort", "asc")
	if !w.Until.IsZero() {
		q.Set("updated_before", w.Until.UTC().Format(wireTime))
	}
	cursor := w.From.UTC()
	setCursor := func() {
		if !cursor.IsZero() {
			q.Set("updated_after", cursor.Format(wireTime))
		}
	}
	setCursor()
	return listRestarting[T, P](ctx, c, path, q, fn, hooks[T]{sized: splitSizing(split), restart: func(rows []T) bool {
		// Millisecond resolution on the wire: truncate so rows at the
		// cursor are not skipped by rounding, and compare truncated so a
		// sub-millisecond advance cannot restart the same page forever.
		last := cursor
		for i := range rows {
			if u := P(&rows[i]).updated().UTC().Truncate(time.Millisecond); u.After(last) {
				last = u
			}
		}
		if !last.After(cursor) {
			return false
		}
		cursor = last
		setCursor()
		return true
	}})
}

// wireTime is how parent listings spell updated_after and updated_before:
// UTC, milliseconds.
const wireTime = "2006-01-02T15:04:05.000Z"
