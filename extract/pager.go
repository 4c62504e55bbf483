package extract

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
)

// perPage is GitLab's maximum: fewer, larger pages cost fewer requests,
// and request count is what bounds a backfill.
const perPage = 100

// listAll pages through path, calling fn with every page's rows in order. It
// follows x-next-page (or the Link header) and stops only when the server
// names no next page: GitLab filters visibility after cutting a page, so a
// short or even empty page is not the end. fn's error stops paging and is
// returned as is.
func listAll[T any, P Row[T]](ctx context.Context, c *Client, path string, q url.Values, fn func([]T) error) error {
	_, err := listRestarting[T, P](ctx, c, path, q, fn, hooks[T]{})
	return err
}

// hooks let a caller steer a listing while it pages.
type hooks[T any] struct {
	// restart, after a page that has a successor, may move a filter in q
	// and return true: paging then starts again at page 1.
	restart func([]T) bool
	// sized is called with the first page's rows and the listing's
	// extent before fn sees them; returning true stops the listing there
	// (fn never sees the page), for callers that split a big listing.
	sized func(Extent, []T) bool
}

// listRestarting is listAll with hooks: a cursor (h.restart) and a look at
// the first page (h.sized). It reports whether h.sized stopped it.
//
// Whatever the server says, a listing ends: after max_pages pages (restarts
// included), or when a page holds exactly the rows of the page before it
// (a server that ignores page or the cursor), paging fails with
// ErrTooManyPages. Every page's rows are checked before fn sees them.
func listRestarting[T any, P Row[T]](ctx context.Context, c *Client, path string, q url.Values, fn func([]T) error, h hooks[T]) (stopped bool, err error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("per_page", strconv.Itoa(perPage))
	var prev []int64
	for n, taken := int64(1), int64(0); ; taken++ {
		if taken >= c.maxPages {
			return false, fmt.Errorf("GET %s: %w: more than %d pages (gitlab.max_pages); refusing to go on", path, ErrTooManyPages, c.maxPages)
		}
		q.Set("page", strconv.FormatInt(n, 10))
		var rows []T
		pg, err := c.get(ctx, path, q, &rows, func() error { return checkRows[T, P](rows) })
		if err != nil {
			return false, err
		}
		next := pg.next
		ids := make([]int64, len(rows))
		for i := range rows {
			ids[i] = P(&rows[i]).key()
		}
		if len(ids) > 0 && slices.Equal(ids, prev) {
			return false, fmt.Errorf("GET %s page %d: %w: the server sent the previous page's %d rows again; refusing to loop", path, n, ErrTooManyPages, len(ids))
		}
		prev = ids
		if taken == 0 && h.sized != nil && h.sized(pg.extent, rows) {
			return true, nil
		}
		if err := fn(rows); err != nil {
			return false, err
		}
		switch {
		case next == 0:
			return false, nil
		case h.restart != nil && h.restart(rows):
			n = 1
		case next <= n:
			return false, errLoop(path, n, next)
		default:
			n = next
		}
	}
}

func errLoop(path string, page, next int64) error {
	return fmt.Errorf("GET %s page %d: %w: server named page %d as the next page; refusing to loop", path, page, ErrTooManyPages, next)
}

// one fetches a single object and checks it.
func one[T any, P Row[T]](ctx context.Context, c *Client, path string, q url.Values) (T, error) {
	var v T
	_, err := c.get(ctx, path, q, &v, P(&v).check)
	return v, err
}
