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
	Locked    *bool   `json:"locked"` // too many failed sign-ins; not the same as state "blocked"
}

// Label is GitLab's LabelBasic.
type Label struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Color       string  `json:"color"`
	Description *string `json:"description"`
	TextColor   *string `json:"text_color"`
	Archived    *bool   `json:"archived"` // absent before GitLab 17.x
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
	// Description and Expired are sent everywhere a milestone object is;
	// Expired is null for a milestone without a due date on some versions.
	Description *string `json:"description"`
	Expired     *bool   `json:"expired"`
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
	Imported       *bool     `json:"imported"`      // brought in by an importer (GitHub, Bitbucket, ...)
	ImportedFrom   *string   `json:"imported_from"` // "none" unless imported
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
	RefCount    *int64  `json:"ref_count"` // set on a push of many refs at once (then ref is null)
}

// Note is present on comment events.
type Note struct {
	ID           int64   `json:"id"`
	Body         *string `json:"body"`
	System       *bool   `json:"system"`
	NoteableType *string `json:"noteable_type"`
	NoteableID   *int64  `json:"noteable_id"`
	NoteableIID  *int64  `json:"noteable_iid"`
	// Type is null for a plain comment, "DiffNote" on a diff line,
	// "DiscussionNote" in a thread.
	Type *string `json:"type"`
	// Internal marks a note only project members with Reporter access can
	// read; GitLab before 15.0 called it confidential (and still sends
	// both). See Note.IsInternal.
	Internal     *bool         `json:"internal"`
	Confidential *bool         `json:"confidential"`
	Position     *NotePosition `json:"position"`  // DiffNotes only
	CommitID     *string       `json:"commit_id"` // the commit a diff note was made on
	Resolvable   *bool         `json:"resolvable"`
	Resolved     *bool         `json:"resolved"` // sent only when resolvable
}

// IsInternal reports whether GitLab marked the note internal (or, on older
// versions, confidential); nil when it said neither.
func (n *Note) IsInternal() *bool {
	if n.Internal != nil {
		return n.Internal
	}
	return n.Confidential
}

// NotePosition is where on a diff a DiffNote sits. A line added or kept
// has a new_line, a removed one only an old_line; a deleted file only an
// old_path.
type NotePosition struct {
	NewPath *string `json:"new_path"`
	OldPath *string `json:"old_path"`
	NewLine *int64  `json:"new_line"`
	OldLine *int64  `json:"old_line"`
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
	// ResourceWorkItemID is sent on epic events while GitLab moves epics
	// onto work items.
	ResourceWorkItemID *int64 `json:"resource_work_item_id"`
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
	ResourceWorkItemID   *int64    `json:"resource_work_item_id"` // see LabelEvent
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
// Issue is a row of /projects/:id/issues. Its first fields are shared with
// merge requests (which embed it); the issue-only ones follow.
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
	// Labels are names (the listing sends objects only when asked to
	// with with_labels_details); nil when absent, empty when none.
	Labels    []string   `json:"labels"`
	Assignees []User     `json:"assignees"`
	Milestone *Milestone `json:"milestone"`

	Weight       *int64     `json:"weight"`     // Premium; absent on Free
	IssueType    *string    `json:"issue_type"` // issue, incident, test_case, task
	Confidential *bool      `json:"confidential"`
	DueDate      *Date      `json:"due_date"`
	TimeStats    *TimeStats `json:"time_stats"`
}

// TimeStats is an issue's or merge request's time tracking, in seconds.
type TimeStats struct {
	TimeEstimate   *int64 `json:"time_estimate"`
	TotalTimeSpent *int64 `json:"total_time_spent"`
}

// MergeRequest is a row of /projects/:id/merge_requests.
type MergeRequest struct {
	Issue
	MergedAt     *time.Time `json:"merged_at"`
	Draft        *bool      `json:"draft"`
	WIP          *bool      `json:"work_in_progress"` // draft's name before GitLab 14.0
	SourceBranch *string    `json:"source_branch"`
	TargetBranch *string    `json:"target_branch"`
	MergedBy     *User      `json:"merged_by"` // deprecated by GitLab for merge_user, still sent
	MergeUser    *User      `json:"merge_user"`
	Reviewers    []User     `json:"reviewers"`
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
	// WorkItemID is the epic's id as a work item, where GitLab has moved
	// it: what its resource events' resource_work_item_id names.
	WorkItemID *int64 `json:"work_item_id"`
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
	// WorkItemID is an epic's id as a work item (0: not sent), for the
	// rows read from it that GitLab does not stamp with it (notes).
	WorkItemID int64
}
