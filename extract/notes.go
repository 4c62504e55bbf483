package extract

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// ParentNote is a row of an issue's, merge request's or epic's notes
// listing (GitLab's Note entity): comments (system false) and system notes
// (system true) together. It is the note an event carries (Note, with its
// IsInternal), plus the author and time the event would have given.
type ParentNote struct {
	Note
	Author    *User     `json:"author"`
	CreatedAt time.Time `json:"created_at"`
}

// IsSystem reports whether the note is a system note (GitLab's record of a
// change), not a comment; a note that does not say is a comment.
func (n *ParentNote) IsSystem() bool { return n.System != nil && *n.System }

func (n *ParentNote) check() error {
	if err := needID("note", n.ID); err != nil {
		return err
	}
	if n.CreatedAt.IsZero() {
		return fmt.Errorf("note %d has no created_at", n.ID)
	}
	return nested(fmt.Sprintf("note %d's author", n.ID), userID(n.Author))
}
func (n *ParentNote) key() int64 { return n.ID }

// Notes pages the notes of parent p, oldest first (order_by=created_at,
// sort=asc: notes added while paging land after the pages already read),
// handing each page to fn.
func Notes(ctx context.Context, c *Client, p Parent, fn func([]ParentNote) error) error {
	q := url.Values{"order_by": {"created_at"}, "sort": {"asc"}}
	return ParentRows[ParentNote](ctx, c, p, "notes", q, fn)
}

// UserByUsername looks a username up (GET /users?username=NAME, which
// answers a JSON array): nil when no user has it (deleted or renamed), an
// error when the request failed.
func UserByUsername(ctx context.Context, c *Client, name string) (*User, error) {
	var rows []User
	if _, err := c.get(ctx, "users", url.Values{"username": {name}}, &rows, func() error { return checkRows(rows) }); err != nil {
		return nil, fmt.Errorf("looking up user %q: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}
