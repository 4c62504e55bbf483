package extract

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// Project resolves a project by numeric id or full path (any depth).
func (c *Client) Project(ctx context.Context, idOrPath string) (Project, error) {
	return one[Project](ctx, c, "projects/"+gitlab.PathEscape(idOrPath), nil)
}

// Group resolves a group by numeric id or full path.
func (c *Client) Group(ctx context.Context, idOrPath string) (Group, error) {
	return one[Group](ctx, c, "groups/"+gitlab.PathEscape(idOrPath), nil)
}

// GroupProjects pages every project of the group and of all its
// subgroups. It never uses the project list embedded in /groups/:id, which
// stops at 100.
func (c *Client) GroupProjects(ctx context.Context, groupID int64, fn func([]Project) error) error {
	q := url.Values{"include_subgroups": {"true"}, "order_by": {"id"}, "sort": {"asc"}, "with_shared": {"false"}}
	return listAll(ctx, c, "groups/"+strconv.FormatInt(groupID, 10)+"/projects", q, fn)
}

// User resolves a user by numeric id or username.
func (c *Client) User(ctx context.Context, idOrName string) (User, error) {
	if _, err := strconv.ParseInt(idOrName, 10, 64); err == nil {
		return one[User](ctx, c, "users/"+idOrName, nil)
	}
	var users []User
	_, err := c.get(ctx, "users", url.Values{"username": {idOrName}}, &users, func() error { return checkRows(users) })
	if err != nil {
		return User{}, err
	}
	if len(users) == 0 {
		return User{}, fmt.Errorf("user %q: %w", idOrName, ErrNotFound)
	}
	return users[0], nil
}

// CurrentUser is the token's owner.
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	return one[User](ctx, c, "user", nil)
}
