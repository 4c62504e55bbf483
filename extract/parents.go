package extract

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// Issues pages the project's issues updated at or after since (inclusive),
// oldest update first. A parent can be delivered more than once; callers
// de-duplicate by id.
func (c *Client) Issues(ctx context.Context, projectID int64, since time.Time, fn func([]Issue) error) error {
	path := "projects/" + strconv.FormatInt(projectID, 10) + "/issues"
	return listByUpdated(ctx, c, path, url.Values{"scope": {"all"}, "state": {"all"}}, since,
		func(i Issue) time.Time { return i.UpdatedAt }, fn)
}

// MergeRequests is Issues for merge requests.
func (c *Client) MergeRequests(ctx context.Context, projectID int64, since time.Time, fn func([]MergeRequest) error) error {
	path := "projects/" + strconv.FormatInt(projectID, 10) + "/merge_requests"
	return listByUpdated(ctx, c, path, url.Values{"scope": {"all"}, "state": {"all"}}, since,
		func(m MergeRequest) time.Time { return m.UpdatedAt }, fn)
}

// Epics pages the group's epics (and, as GitLab does by default, those of
// its descendant groups) updated at or after since. Premium: a Free group
// answers 403 (ErrForbidden) or 404.
func (c *Client) Epics(ctx context.Context, groupID int64, since time.Time, fn func([]Epic) error) error {
	path := "groups/" + strconv.FormatInt(groupID, 10) + "/epics"
	return listByUpdated(ctx, c, path, url.Values{"state": {"all"}}, since,
		func(e Epic) time.Time { return e.UpdatedAt }, fn)
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
func listByUpdated[T any, P Row[T]](ctx context.Context, c *Client, path string, q url.Values, since time.Time,
	updatedAt func(T) time.Time, fn func([]T) error) error {
	q.Set("order_by", "updated_at")
	q.Set("sort", "asc")
	cursor := since.UTC()
	setCursor := func() {
		if !cursor.IsZero() {
			q.Set("updated_after", cursor.Format("2006-01-02T15:04:05.000Z"))
		}
	}
	setCursor()
	_, err := listRestarting[T, P](ctx, c, path, q, fn, hooks[T]{restart: func(rows []T) bool {
		// Millisecond resolution on the wire: truncate so rows at the
		// cursor are not skipped by rounding, and compare truncated so a
		// sub-millisecond advance cannot restart the same page forever.
		last := cursor
		for _, r := range rows {
			if u := updatedAt(r).UTC().Truncate(time.Millisecond); u.After(last) {
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
	return err
}
