package extract

import (
	"errors"
	"fmt"
	"time"
)

// A row is trusted only when it carries the fields its table's key (and
// labtrail's next request) needs. A row without them is a bad answer, not a
// row with id 0: storing it would invent a key, and requesting
// /projects/0/... would follow one. get retries such a page like a cut-off
// body and then fails the scope.

// entity is what every listed row type implements; pages needs both
// methods, one the single-object reads need check only.
type entity interface {
	check() error
	key() int64
}

// Row is the constraint of the generic readers: T is an entity type of
// this package, so that the pager can take []T and still reach *T's
// check and key. Other packages name it; only this one implements it.
type Row[T any] interface {
	*T
	entity
}

var errNoID = errors.New("no id (null, missing or 0)")

func needID(what string, id int64) error {
	if id <= 0 {
		return fmt.Errorf("%s has %w", what, errNoID)
	}
	return nil
}

// nested checks an embedded object GitLab may send as null (allowed) but,
// when present, must identify.
func nested(what string, id *int64) error {
	if id != nil && *id <= 0 {
		return fmt.Errorf("%s has %w", what, errNoID)
	}
	return nil
}

func userID(u *User) *int64 {
	if u == nil {
		return nil
	}
	return &u.ID
}

// checkRows checks every row of a page, naming the first bad one.
func checkRows[T any, P Row[T]](rows []T) error {
	for i := range rows {
		if err := P(&rows[i]).check(); err != nil {
			return fmt.Errorf("row %d of %d: %w", i+1, len(rows), err)
		}
	}
	return nil
}

func (u *User) check() error { return needID("user", u.ID) }
func (u *User) key() int64   { return u.ID }

func (p *Project) check() error { return needID("project", p.ID) }
func (p *Project) key() int64   { return p.ID }

func (g *Group) check() error { return needID("group", g.ID) }
func (g *Group) key() int64   { return g.ID }

func (e *Event) check() error {
	if err := needID("event", e.ID); err != nil {
		return err
	}
	if e.CreatedAt.IsZero() {
		return fmt.Errorf("event %d has no created_at", e.ID)
	}
	return nested(fmt.Sprintf("event %d's author", e.ID), userID(e.Author))
}
func (e *Event) key() int64 { return e.ID }

// resourceEvent checks what every resource-event family shares.
func resourceEvent(family string, id int64, created time.Time, u *User) error {
	if err := needID(family+" event", id); err != nil {
		return err
	}
	if created.IsZero() {
		return fmt.Errorf("%s event %d has no created_at", family, id)
	}
	return nested(fmt.Sprintf("%s event %d's user", family, id), userID(u))
}

func (e *LabelEvent) check() error {
	if err := resourceEvent("label", e.ID, e.CreatedAt, e.User); err != nil {
		return err
	}
	if e.Label != nil {
		return nested(fmt.Sprintf("label event %d's label", e.ID), &e.Label.ID)
	}
	return nil
}
func (e *LabelEvent) key() int64 { return e.ID }

func (e *StateEvent) check() error { return resourceEvent("state", e.ID, e.CreatedAt, e.User) }
func (e *StateEvent) key() int64   { return e.ID }

func (e *MilestoneEvent) check() error {
	if err := resourceEvent("milestone", e.ID, e.CreatedAt, e.User); err != nil {
		return err
	}
	if e.Milestone != nil {
		return nested(fmt.Sprintf("milestone event %d's milestone", e.ID), &e.Milestone.ID)
	}
	return nil
}
func (e *MilestoneEvent) key() int64 { return e.ID }

func (e *IterationEvent) check() error {
	if err := resourceEvent("iteration", e.ID, e.CreatedAt, e.User); err != nil {
		return err
	}
	if e.Iteration != nil {
		return nested(fmt.Sprintf("iteration event %d's iteration", e.ID), &e.Iteration.ID)
	}
	return nil
}
func (e *IterationEvent) key() int64 { return e.ID }

func (e *WeightEvent) check() error { return resourceEvent("weight", e.ID, e.CreatedAt, e.User) }
func (e *WeightEvent) key() int64   { return e.ID }

func (e *AuditEvent) check() error {
	if err := needID("audit event", e.ID); err != nil {
		return err
	}
	if e.CreatedAt.IsZero() {
		return fmt.Errorf("audit event %d has no created_at", e.ID)
	}
	return nil
}
func (e *AuditEvent) key() int64 { return e.ID }

// parent checks a listed issue, merge request or epic: its id is the
// dimension key, its iid and owner address its resource events, and its
// updated_at is the listing's cursor and the unit's watermark.
func parent(kind string, id, iid, owner int64, ownerKind string, updated time.Time) error {
	if err := needID(kind, id); err != nil {
		return err
	}
	if iid <= 0 {
		return fmt.Errorf("%s %d has no iid", kind, id)
	}
	if owner <= 0 {
		return fmt.Errorf("%s %d has no %s", kind, id, ownerKind)
	}
	if updated.IsZero() {
		return fmt.Errorf("%s %d has no updated_at", kind, id)
	}
	return nil
}

// issuable checks the nested objects issues and merge requests share: the
// author, the assignees and the milestone become dimension rows (and
// bridge rows), so each must identify.
func (i *Issue) issuable(kind string) error {
	what := fmt.Sprintf("%s %d's", kind, i.ID)
	if err := nested(what+" author", userID(i.Author)); err != nil {
		return err
	}
	if err := userList(what+" assignee", i.Assignees); err != nil {
		return err
	}
	if m := i.Milestone; m != nil {
		return nested(what+" milestone", &m.ID)
	}
	return nil
}

// userList checks each user of a nested list.
func userList(what string, us []User) error {
	for k := range us {
		if err := nested(fmt.Sprintf("%s %d", what, k+1), &us[k].ID); err != nil {
			return err
		}
	}
	return nil
}

func (i *Issue) check() error {
	if err := parent("issue", i.ID, i.IID, i.ProjectID, "project_id", i.UpdatedAt); err != nil {
		return err
	}
	return i.issuable("issue")
}
func (i *Issue) key() int64 { return i.ID }

func (m *MergeRequest) check() error {
	if err := parent("merge request", m.ID, m.IID, m.ProjectID, "project_id", m.UpdatedAt); err != nil {
		return err
	}
	if err := m.issuable("merge request"); err != nil {
		return err
	}
	what := fmt.Sprintf("merge request %d's", m.ID)
	if err := userList(what+" reviewer", m.Reviewers); err != nil {
		return err
	}
	if err := nested(what+" merged_by", userID(m.MergedBy)); err != nil {
		return err
	}
	return nested(what+" merge_user", userID(m.MergeUser))
}
func (m *MergeRequest) key() int64 { return m.ID }

func (e *Epic) check() error {
	if err := parent("epic", e.ID, e.IID, e.GroupID, "group_id", e.UpdatedAt); err != nil {
		return err
	}
	return nested(fmt.Sprintf("epic %d's author", e.ID), userID(e.Author))
}
func (e *Epic) key() int64 { return e.ID }
