package extract

import (
	"context"
	"fmt"
	"math"
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
	// extent before fn sees them, for callers that read a big listing in
	// parts (see Sizing).
	sized func(Extent, []T) Sizing
	// first is the page to start at (0: 1); only sizes listings that start
	// at page 1.
	first int64
	// only reads the first page alone, whatever it names as next.
	only bool
}

// Sizing is what a caller makes of a listing's first page, seen with the
// listing's extent before any row is handed on.
type Sizing int

const (
	// ReadWhole pages on to the end.
	ReadWhole Sizing = iota
	// ReadInParts stops before the page is handed on: the caller reads the
	// listing in parts (windows) instead.
	ReadInParts
	// ReadFirstOnly hands on the first page and stops there: the caller
	// reads the other pages itself, at once (EventsPages).
	ReadFirstOnly
)

// splitSizing is a sized hook for callers that only split: split true
// reads in parts. A nil split sizes nothing.
func splitSizing[T any](split func(Extent, []T) bool) func(Extent, []T) Sizing {
	if split == nil {
		return nil
	}
	return func(e Extent, rows []T) Sizing {
		if split(e, rows) {
			return ReadInParts
		}
		return ReadWhole
	}
}

// listRestarting is listAll with hooks: a cursor (h.restart), a look at
// the first page (h.sized), a start page and a single page (h.first,
// h.only). It reports whether it stopped before the listing's end: by
// h.sized, or after the only page it was to read when that page named a
// next one.
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
	for n, taken := max(1, h.first), int64(0); ; taken++ {
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
		only := h.only
		if taken == 0 && n == 1 && h.sized != nil {
			switch h.sized(pg.extent, rows) {
			case ReadInParts:
				return true, nil
			case ReadFirstOnly:
				only = true
			}
		}
		if err := fn(rows); err != nil {
			return false, err
		}
		switch {
		case next == 0:
			return false, nil
		case only:
			return true, nil
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

// listKeyset pages a keyset listing (pagination=keyset&order_by=id, newest
// id first, as GitLab offers it for audit events): the first page is path
// with q, every later one the URL of the page's Link rel="next", followed
// as given (its cursor is opaque) but only if it lies on the client's
// origin and the listing's own path. The listing ends when a page names no
// next URL; a short or empty page is not the end.
//
// Whatever the server says, a listing ends: after max_pages pages, or when
// a page holds an id not below every id of the page before (a server that
// ignores the cursor would otherwise hand out the same rows forever),
// paging fails with ErrTooManyPages.
func listKeyset[T any, P Row[T]](ctx context.Context, c *Client, path string, q url.Values, fn func([]T) error) error {
	q.Set("pagination", "keyset")
	q.Set("order_by", "id")
	q.Set("sort", "desc") // the only order GitLab accepts here; others answer 405
	q.Set("per_page", strconv.Itoa(perPage))
	r := request{path: path, q: q, keyset: true}
	below := int64(math.MaxInt64) // every id of the next page must be below it
	for r.page = 1; ; r.page++ {
		if r.page > c.maxPages {
			return fmt.Errorf("GET %s: %w: more than %d pages (gitlab.max_pages); refusing to go on", path, ErrTooManyPages, c.maxPages)
		}
		var rows []T
		pg, err := c.fetch(ctx, r, &rows, func() error { return checkRows[T, P](rows) })
		if err != nil {
			return err
		}
		lowest := below
		for i := range rows {
			id := P(&rows[i]).key()
			if id >= below {
				return fmt.Errorf("GET %s: %w: id %d is not below the previous page's %d; the server ignores the cursor", r.endpoint(), ErrTooManyPages, id, below)
			}
			lowest = min(lowest, id)
		}
		below = lowest
		if err := fn(rows); err != nil {
			return err
		}
		if pg.link == nil {
			return nil
		}
		if r.next, err = c.followable(pg.link, path); err != nil {
			return fmt.Errorf("GET %s: %w", r.endpoint(), err)
		}
		r.q = nil
	}
}

// followable checks a keyset listing's next-page URL before it is
// requested: on gitlab.url's origin (elsewhere the PRIVATE-TOKEN header
// would go with it) and on the listing's own path (a cursor for another
// listing would mix its rows into this one). Neither is retried: the
// server named that URL on purpose.
func (c *Client) followable(next *url.URL, path string) (*url.URL, error) {
	if !sameOrigin(next, c.origin) {
		return nil, fmt.Errorf("%w: Link rel=\"next\" points at %s, not the configured %s; not followed, so the token stays on its host",
			ErrRedirect, originString(next), originString(c.origin))
	}
	if next.EscapedPath() != c.api+path {
		return nil, fmt.Errorf("%w: Link rel=\"next\" points at another listing (%s); not followed",
			ErrBadAnswer, c.redact.Excerpt([]byte(next.EscapedPath()), 80))
	}
	return next, nil
}
