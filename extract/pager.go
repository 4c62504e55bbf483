package extract

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

// perPage is GitLab's maximum: fewer, larger pages cost fewer requests,
// and request count is what bounds a backfill.
const perPage = 100

// each pages through path, calling fn with every page's rows in order. It
// follows x-next-page (or the Link header) and stops only when the server
// names no next page: GitLab filters visibility after cutting a page, so a
// short or even empty page is not the end. fn's error stops paging and is
// returned as is.
func each[T any](ctx context.Context, c *Client, path string, q url.Values, fn func([]T) error) error {
	return pages(ctx, c, path, q, fn, nil)
}

// pages is each with a cursor: after every page that has a successor,
// restart (when not nil) may move a filter in q and return true, and
// paging then starts again at page 1 of the narrowed listing.
func pages[T any](ctx context.Context, c *Client, path string, q url.Values, fn func([]T) error, restart func([]T) bool) error {
	if q == nil {
		q = url.Values{}
	}
	q.Set("per_page", strconv.Itoa(perPage))
	for n := int64(1); ; {
		q.Set("page", strconv.FormatInt(n, 10))
		var rows []T
		next, err := c.get(ctx, path, q, &rows)
		if err != nil {
			return err
		}
		if err := fn(rows); err != nil {
			return err
		}
		switch {
		case next == 0:
			return nil
		case restart != nil && restart(rows):
			n = 1
		case next <= n:
			return errLoop(path, n, next)
		default:
			n = next
		}
	}
}

func errLoop(path string, page, next int64) error {
	return fmt.Errorf("GET %s page %d: server named page %d as the next page; refusing to loop", path, page, next)
}

// one fetches a single object.
func one[T any](ctx context.Context, c *Client, path string, q url.Values) (T, error) {
	var v T
	_, err := c.get(ctx, path, q, &v)
	return v, err
}
