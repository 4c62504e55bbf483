package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// The entity types mirror the JSON GitLab writes (lib/api/entities/*.rb).
// Every object that GitLab may send as null (a deleted user, label or
// milestone, an event without a note) is a pointer, so that "absent" and
// "zero" stay distinguishable all the way to a null column.

// User is GitLab's UserBasic. Deleted users arrive as the Ghost User.
type User struct {
	ID        int64   `json:"id"`
	Username  string  `json:"username"`
	Name      string  `json:"name"`
	State     string  `json:"state"`
	AvatarURL *string `json:"avatar_url"` // null when Gravatar is off
	WebURL    *string `json:"web_url"`
}

// Label is GitLab's LabelBasic.
type Label struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Color       string  `json:"color"`
	Description *string `json:"description"`
}

// Milestone belongs to a project (ProjectID set) or a group (GroupID set).
type Milestone struct {
	ID        int64   `json:"id"`
	IID       *int64  `json:"iid"`
	ProjectID *int64  `json:"project_id"`
	GroupID   *int64  `json:"group_id"`
	Title     string  `json:"title"`
	State     string  `json:"state"`
	DueDate   *Date   `json:"due_date"`
	StartDate *Date   `json:"start_date"`
	WebURL    *string `json:"web_url"` // absent on older GitLab versions
}

// Iteration is a group iteration (Premium).
type Iteration struct {
	ID        int64          `json:"id"`
	IID       *int64         `json:"iid"`
	GroupID   *int64         `json:"group_id"`
	Title     *string        `json:"title"`
	State     IterationState `json:"state"`
	StartDate *Date          `json:"start_date"`
	DueDate   *Date          `json:"due_date"`
	WebURL    *string        `json:"web_url"`
}

// Event is a row of the Events API (project, user and current-user events
// are rows of one server table).
type Event struct {
	ID             int64     `json:"id"`
	ProjectID      *int64    `json:"project_id"`
	ActionName     string    `json:"action_name"`
	TargetID       *int64    `json:"target_id"`
	TargetIID      *int64    `json:"target_iid"`
	TargetType     *string   `json:"target_type"`
	TargetTitle    *string   `json:"target_title"`
	AuthorID       *int64    `json:"author_id"`
	AuthorUsername *string   `json:"author_username"`
	CreatedAt      time.Time `json:"created_at"`
	Author         *User     `json:"author"`
	PushData       *PushData `json:"push_data"`
	Note           *Note     `json:"note"`
	WikiPage       *WikiPage `json:"wiki_page"`
}

// PushData is present on push events.
type PushData struct {
	CommitCount *int64  `json:"commit_count"`
	Action      *string `json:"action"`
	RefType     *string `json:"ref_type"`
	CommitFrom  *string `json:"commit_from"`
	CommitTo    *string `json:"commit_to"`
	Ref         *string `json:"ref"`
	CommitTitle *string `json:"commit_title"`
}

// Note is present on comment events.
type Note struct {
	ID           int64   `json:"id"`
	Body         *string `json:"body"`
	System       *bool   `json:"system"`
	NoteableType *string `json:"noteable_type"`
	NoteableID   *int64  `json:"noteable_id"`
	NoteableIID  *int64  `json:"noteable_iid"`
}

// WikiPage is present on wiki events.
type WikiPage struct {
	Title *string `json:"title"`
	Slug  *string `json:"slug"`
}

// LabelEvent is a resource_label_events row.
type LabelEvent struct {
	ID           int64     `json:"id"`
	User         *User     `json:"user"`
	CreatedAt    time.Time `json:"created_at"`
	ResourceType string    `json:"resource_type"`
	ResourceID   int64     `json:"resource_id"`
	Label        *Label    `json:"label"`
	Action       string    `json:"action"`
}

// StateEvent is a resource_state_events row.
type StateEvent struct {
	ID                   int64     `json:"id"`
	User                 *User     `json:"user"`
	CreatedAt            time.Time `json:"created_at"`
	ResourceType         string    `json:"resource_type"`
	ResourceID           int64     `json:"resource_id"`
	State                string    `json:"state"`
	SourceCommit         *string   `json:"source_commit"`
	SourceMergeRequestID *int64    `json:"source_merge_request_id"`
}

// MilestoneEvent is a resource_milestone_events row.
type MilestoneEvent struct {
	ID           int64      `json:"id"`
	User         *User      `json:"user"`
	CreatedAt    time.Time  `json:"created_at"`
	ResourceType string     `json:"resource_type"`
	ResourceID   int64      `json:"resource_id"`
	Milestone    *Milestone `json:"milestone"`
	Action       string     `json:"action"`
}

// IterationEvent is a resource_iteration_events row (Premium).
type IterationEvent struct {
	ID           int64      `json:"id"`
	User         *User      `json:"user"`
	CreatedAt    time.Time  `json:"created_at"`
	ResourceType string     `json:"resource_type"`
	ResourceID   int64      `json:"resource_id"`
	Iteration    *Iteration `json:"iteration"`
	Action       string     `json:"action"`
}

// WeightEvent is a resource_weight_events row (Premium). It names its issue
// by issue_id rather than resource_type/resource_id.
type WeightEvent struct {
	ID        int64     `json:"id"`
	User      *User     `json:"user"`
	CreatedAt time.Time `json:"created_at"`
	IssueID   int64     `json:"issue_id"`
	Weight    *int64    `json:"weight"`
}

// AuditEvent is a row of the audit events API (Premium): project, group
// and instance audit events are rows of one server table, so the same id
// can come from a project and from the instance.
type AuditEvent struct {
	ID         int64        `json:"id"`
	AuthorID   *int64       `json:"author_id"`
	EntityID   *int64       `json:"entity_id"`
	EntityType *string      `json:"entity_type"`
	EventName  *string      `json:"event_name"` // absent on older GitLab versions
	Details    AuditDetails `json:"details"`
	CreatedAt  time.Time    `json:"created_at"`
}

// AuditDetails is an audit event's details object. Its keys vary by event
// and GitLab keeps adding some, so the whole object is kept (Raw, compact
// JSON; nil when GitLab sent null or nothing) and only the keys the table
// has columns for are read from it, leniently: a string is taken as is, a
// number or object as its JSON text, since older versions wrote
// target_id as a path and newer ones as a number.
type AuditDetails struct {
	Raw           []byte
	CustomMessage *string
	AuthorName    *string
	TargetID      *int64 // a number, or a string of digits; else null (Raw keeps it)
	TargetType    *string
	TargetDetails *string
	IPAddress     *string
	EntityPath    *string
}

// UnmarshalJSON accepts an object or null; anything else is the wrong
// shape, refused like any other.
func (d *AuditDetails) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*d = AuditDetails{}
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("audit event details: %w", err)
	}
	var raw bytes.Buffer
	if err := json.Compact(&raw, b); err != nil {
		return fmt.Errorf("audit event details: %w", err)
	}
	*d = AuditDetails{Raw: raw.Bytes(), CustomMessage: jsonText(m["custom_message"]), AuthorName: jsonText(m["author_name"]),
		TargetID: jsonID(m["target_id"]), TargetType: jsonText(m["target_type"]), TargetDetails: jsonText(m["target_details"]),
		IPAddress: jsonText(m["ip_address"]), EntityPath: jsonText(m["entity_path"])}
	return nil
}

// jsonText is a JSON value as text: a string's contents, any other value's
// compact JSON; nil for null or absent.
func jsonText(v json.RawMessage) *string {
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return &s
	}
	var c bytes.Buffer
	if json.Compact(&c, v) != nil {
		return nil
	}
	s = c.String()
	return &s
}

// jsonID is a JSON number or string of digits as an id; nil otherwise.
func jsonID(v json.RawMessage) *int64 {
	t := jsonText(v)
	if t == nil {
		return nil
	}
	n, err := strconv.ParseInt(*t, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

// Issue is a row of /projects/:id/issues.
type Issue struct {
	ID        int64      `json:"id"`
	IID       int64      `json:"iid"`
	ProjectID int64      `json:"project_id"`
	Title     string     `json:"title"`
	State     string     `json:"state"`
	Author    *User      `json:"author"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ClosedAt  *time.Time `json:"closed_at"`
	WebURL    *string    `json:"web_url"`
}

// MergeRequest is a row of /projects/:id/merge_requests.
type MergeRequest struct {
	Issue
	MergedAt *time.Time `json:"merged_at"`
}

// Epic is a row of /groups/:id/epics.
type Epic struct {
	ID        int64      `json:"id"`
	IID       int64      `json:"iid"`
	GroupID   int64      `json:"group_id"`
	Title     string     `json:"title"`
	State     string     `json:"state"`
	Author    *User      `json:"author"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ClosedAt  *time.Time `json:"closed_at"`
	WebURL    *string    `json:"web_url"`
}

// Project is a row of /projects/:id or /groups/:id/projects.
type Project struct {
	ID                int64   `json:"id"`
	Name              string  `json:"name"`
	PathWithNamespace string  `json:"path_with_namespace"`
	WebURL            *string `json:"web_url"`
	Namespace         *struct {
		ID int64 `json:"id"`
	} `json:"namespace"`
}

// Group is a row of /groups/:id.
type Group struct {
	ID       int64  `json:"id"`
	FullPath string `json:"full_path"`
}

// Date is a plain calendar date ("2020-01-27"), as GitLab writes due and
// start dates. It is kept as a UTC midnight.
type Date struct{ time.Time }

// UnmarshalJSON accepts "YYYY-MM-DD" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date: %w", err)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return fmt.Errorf("date %q: %w", s, err)
	}
	d.Time = t
	return nil
}

// MarshalJSON writes "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.Format(time.DateOnly))
}

// IterationState is an iteration's state. GitLab has written it both as a
// number (1 upcoming, 2 current, 3 closed) and as a word; both decode to the
// word.
type IterationState string

// UnmarshalJSON accepts a number, a string or null.
func (s *IterationState) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("iteration state: %w", err)
		}
		*s = IterationState(v)
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("iteration state %s: not a number or a string", b)
	}
	switch n {
	case 1:
		*s = "upcoming"
	case 2:
		*s = "current"
	case 3:
		*s = "closed"
	default:
		*s = IterationState(strconv.Itoa(n))
	}
	return nil
}

// Parent names the issue, merge request or epic that resource events were
// read from. ProjectID is zero for epics and GroupID is zero for issues and
// merge requests.
type Parent struct {
	Type      schemas.ParentKind
	ID        int64 // global id
	IID       int64
	ProjectID int64
	GroupID   int64
}
