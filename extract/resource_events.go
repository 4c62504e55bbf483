package extract

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/labtrail/labtrail/schemas"
)

// ResourceEvents pages one family of resource events of parent p (family
// is a schemas.Stream's Family; T is its entity type: LabelEvent, ...).
//
// It is a function rather than a method only because Go methods cannot
// take type parameters.
func ResourceEvents[T any, P Row[T]](ctx context.Context, c *Client, p Parent, family string, fn func([]T) error) error {
	return ParentRows[T, P](ctx, c, p, "resource_"+family+"_events", nil, fn)
}

// ParentRows pages the listing sub (a schemas.Stream's Sub: a resource
// event family's route, or "notes") under parent p, with query q. Issues
// and merge requests are addressed by project and IID, epics by group and
// their global id, as GitLab's routes require.
func ParentRows[T any, P Row[T]](ctx context.Context, c *Client, p Parent, sub string, q url.Values, fn func([]T) error) error {
	var base string
	switch p.Type {
	case schemas.ParentIssue:
		base = "projects/" + strconv.FormatInt(p.ProjectID, 10) + "/issues/" + strconv.FormatInt(p.IID, 10)
	case schemas.ParentMergeRequest:
		base = "projects/" + strconv.FormatInt(p.ProjectID, 10) + "/merge_requests/" + strconv.FormatInt(p.IID, 10)
	case schemas.ParentEpic:
		base = "groups/" + strconv.FormatInt(p.GroupID, 10) + "/epics/" + strconv.FormatInt(p.ID, 10)
	default:
		return fmt.Errorf("%s: unknown parent type %q", sub, p.Type)
	}
	return listAll[T, P](ctx, c, base+"/"+sub, q, fn)
}
