package gitlabfake

import (
	"maps"
	"slices"
	"time"
)

// Data is a snapshot of the whole fake instance, with every row the server
// can return (hidden ones included, flagged), so tests can compute the
// exact responses they expect without going through HTTP.
type Data struct {
	// Now is the instance's current time: every row is created at or before it.
	Now time.Time
	// RootUserID is the id of the token owner (root).
	RootUserID int64

	Users         []User
	Groups        []Group
	Projects      []Project
	Issues        []Issue
	MergeRequests []MergeRequest
	Epics         []Epic
	Milestones    []Milestone
	Labels        []Label
	Iterations    []Iteration

	// Events are the Events API rows of all projects (one server table),
	// sorted by ID. IDs grow with CreatedAt only roughly.
	Events []Event

	// Resource events, one slice per family (one server table each), sorted by ID.
	LabelEvents, StateEvents, MilestoneEvents, IterationEvents, WeightEvents []ResourceEvent

	// Notes are the notes of issues, merge requests and epics (comments
	// and system notes; see ParentNote), sorted by ID.
	Notes []ParentNote

	// AuditEvents are the rows of the audit events table (project, group
	// and instance audit events are views of it), sorted by ID; IDs grow
	// with CreatedAt.
	AuditEvents []AuditEvent
}

// User is a GitLab user; the Ghost User stands in for deleted authors.
type User struct {
	ID        int64
	Username  string
	Name      string
	State     string // "active" or "blocked"
	Locked    bool   // too many failed sign-ins (not the same as blocked)
	CreatedAt time.Time
}

// Group is a GitLab group; subgroups name their parent.
type Group struct {
	ID       int64
	ParentID int64 // 0 for a top-level group
	Path     string
	Name     string
	FullPath string
	// Premium says whether Premium features (epics, iterations, weights)
	// are licensed for the group, directly or through its parent.
	Premium   bool
	CreatedAt time.Time
}

// Project is a GitLab project.
type Project struct {
	ID                int64
	GroupID           int64
	Path              string
	Name              string
	PathWithNamespace string
	// Zone is the zone the server renders this project's timestamps in
	// (UTC gives "Z", freeorg/tool uses a fixed +02:00 offset).
	Zone *time.Location
	// Big marks the project whose Events API listing exceeds 10,000 rows.
	Big       bool
	CreatedAt time.Time
}

// Label is a project label (ProjectID set) or a group label (GroupID set).
type Label struct {
	ID          int64
	ProjectID   int64
	GroupID     int64
	Name        string
	Color       string
	TextColor   string // GitLab derives it from Color's lightness
	Description string // "" renders as null
	Archived    bool
}

// Milestone is a project milestone (ProjectID set) or a group milestone (GroupID set).
type Milestone struct {
	ID          int64
	IID         int64
	ProjectID   int64
	GroupID     int64
	Title       string
	Description string // "" renders as null
	State       string // "active" or "closed"
	CreatedAt   time.Time
	UpdatedAt   time.Time
	StartDate   *time.Time // a plain date (UTC midnight); nil renders as null
	DueDate     *time.Time // a plain date (UTC midnight); nil renders as null
}

// Iteration is a group iteration (Premium).
type Iteration struct {
	ID        int64
	IID       int64
	GroupID   int64
	Title     string // "" renders as null (cadence-generated iterations have no title)
	State     int    // 1 upcoming, 2 current, 3 closed, rendered as an integer like GitLab does
	StartDate time.Time
	DueDate   time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Issue is a project issue. UpdatedAt follows its resource events, notes
// and assignee changes, except for the rapid-edit quirk (see
// ResourceEvent). Its labels, milestone and weight are what its resource
// events leave (see Data.Current).
type Issue struct {
	ID        int64
	IID       int64
	ProjectID int64
	AuthorID  int64
	Title     string
	State     string // "opened" or "closed"
	CreatedAt time.Time
	UpdatedAt time.Time
	ClosedAt  *time.Time

	AssigneeIDs    []int64 // in assignment order; empty renders "assignees": []
	IssueType      string  // "issue", "incident" or "task"
	Confidential   bool
	DueDate        *time.Time // a plain date (UTC midnight); nil renders as null
	TimeEstimate   int64      // seconds
	TotalTimeSpent int64      // seconds
}

// MergeRequest is a project merge request.
type MergeRequest struct {
	ID           int64
	IID          int64
	ProjectID    int64
	AuthorID     int64
	Title        string
	State        string // "opened", "closed" or "merged"
	SourceBranch string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ClosedAt     *time.Time
	MergedAt     *time.Time

	TargetBranch string
	Draft        bool // never on a merged MR
	AssigneeIDs  []int64
	ReviewerIDs  []int64
	MergedByID   int64 // who merged it (the merged state event's user); 0 renders null
	MergeUserID  int64 // who merged it or set it to auto-merge; 0 renders null
}

// Epic is a group epic (Premium groups only).
type Epic struct {
	ID        int64
	IID       int64
	GroupID   int64
	AuthorID  int64
	Title     string
	State     string // "opened" or "closed"
	CreatedAt time.Time
	UpdatedAt time.Time
	ClosedAt  *time.Time
	// WorkItemID is the epic's id as a work item (GitLab is moving epics
	// onto work items); its resource events send it as resource_work_item_id.
	WorkItemID int64
}

// Event is a row of the Events API table.
type Event struct {
	ID        int64
	ProjectID int64
	AuthorID  int64
	// Action is the internal action enum the `action` filter matches
	// (created, updated, closed, reopened, pushed, commented, merged, joined, ...).
	Action string
	// ActionName is what the API renders ("opened", "pushed to", "commented on", "accepted", ...).
	ActionName  string
	TargetType  string // "" renders target_type/target_id/target_iid/target_title as null
	TargetID    int64
	TargetIID   int64
	TargetTitle string // "" renders as null
	CreatedAt   time.Time
	Push        *PushData
	Note        *Note
	Wiki        *WikiPage
	// Hidden rows are dropped by the visibility filter after the page is cut.
	Hidden bool
	// ImportedFrom names the importer that brought the event in ("github");
	// "" renders imported false and imported_from "none".
	ImportedFrom string
}

// PushData is the push_data of a push event.
type PushData struct {
	CommitCount int64
	Action      string // "pushed", "created" or "removed"
	RefType     string // "branch" or "tag"
	CommitFrom  string // "" renders as null (new ref)
	CommitTo    string
	Ref         string // "" renders as null (a push of many refs at once)
	CommitTitle string // "" renders as null
	RefCount    int64  // refs of a push of many at once; 0 renders as null
}

// Note is the note of a "commented on" event.
type Note struct {
	ID           int64
	Body         string
	AuthorID     int64
	System       bool
	NoteableType string // "Issue" or "MergeRequest"
	NoteableID   int64
	NoteableIID  int64
	CreatedAt    time.Time
	// Type is "", "DiffNote" or "DiscussionNote"; a typed note's event has
	// it as its target_type.
	Type string
	// Internal notes (issues only) have a body that says so ("INTERNAL-<id>:
	// ..."), so tests can look for it anywhere.
	Internal   bool
	Position   *NotePosition // DiffNotes only
	CommitID   string        // DiffNotes only; "" renders as null
	Resolvable bool
	Resolved   bool
}

// NotePosition is where on a diff a DiffNote sits: a line added or kept has
// NewLine, a removed one only OldLine (NewLine 0 renders null, as does
// OldLine 0).
type NotePosition struct {
	OldPath, NewPath string
	OldLine, NewLine int64
}

// WikiPage is the wiki_page of a wiki event.
type WikiPage struct {
	Format string
	Slug   string
	Title  string
}

// ResourceEvent is one row of a resource event family (label, state,
// milestone, iteration or weight). Which fields matter depends on the family.
type ResourceEvent struct {
	ID         int64
	ParentType string // "Issue", "MergeRequest" or "Epic"
	ParentID   int64  // the parent's global id (resource_id / issue_id)
	ParentIID  int64
	ProjectID  int64 // set for issues and merge requests
	GroupID    int64 // set for epics
	UserID     int64 // 0 renders "user": null
	CreatedAt  time.Time
	// Action is "add" or "remove" (label, milestone, iteration events).
	Action string
	// State is the new state of a state event (opened/closed/reopened/merged),
	// or the parent's state at the time of a milestone event.
	State       string
	LabelID     int64 // 0 renders "label": null (deleted label)
	MilestoneID int64 // 0 renders "milestone": null (deleted milestone)
	IterationID int64 // 0 renders "iteration": null
	Weight      *int64
	// SourceCommit and SourceMergeRequestID say what closed an issue ("" / 0 render null).
	SourceCommit         string
	SourceMergeRequestID int64
	// Hidden rows are dropped by the visibility filter after the page is cut.
	Hidden bool
}

// AuditEvent is a row of GitLab's audit_events table.
type AuditEvent struct {
	ID       int64
	AuthorID int64 // 0 renders null
	// EntityType is "Project", "Group", "User" or
	// "Gitlab::Audit::InstanceScope"; a project's or group's audit events
	// are those whose entity it is.
	EntityType string
	EntityID   int64
	EventName  string
	// CreatedAt has microseconds, as GitLab stores it; the API renders
	// milliseconds.
	CreatedAt time.Time
	// The details keys every event may have; "" (0) leaves a key out.
	EntityPath    string
	TargetType    string
	TargetID      int64
	TargetDetails string
	CustomMessage string
	IPAddress     string
	// TargetPath renders target_id as TargetDetails (a path), as older
	// GitLab versions wrote it.
	TargetPath bool
	// Extra are event-specific details keys (change, from, to, add, as).
	Extra map[string]string
}

// AuditDetails is e's details object as the API renders it: the keys the
// event has, with author_name and author_email of its author in d.
func (d *Data) AuditDetails(e *AuditEvent) map[string]any {
	var author *User
	for i := range d.Users {
		if d.Users[i].ID == e.AuthorID {
			author = &d.Users[i]
		}
	}
	return auditDetails(e, author)
}

func auditDetails(e *AuditEvent, author *User) map[string]any {
	m := map[string]any{}
	for k, v := range e.Extra {
		m[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	if author != nil {
		set("author_name", author.Name)
		set("author_email", author.Username+"@example.com")
	}
	set("entity_path", e.EntityPath)
	set("target_type", e.TargetType)
	set("target_details", e.TargetDetails)
	set("custom_message", e.CustomMessage)
	set("ip_address", e.IPAddress)
	switch {
	case e.TargetPath:
		set("target_id", e.TargetDetails)
	case e.TargetID != 0:
		m["target_id"] = e.TargetID
	}
	return m
}

// ActivitySummary counts what AddActivity added.
type ActivitySummary struct {
	Now             time.Time // the instance time after the activity
	Events          int       // new Events API rows, all projects
	SameDayEvents   int       // of those, on the same UTC calendar day as the previous newest event
	Issues          int       // new issues
	MergeRequests   int       // new merge requests
	LabelEvents     int
	StateEvents     int
	MilestoneEvents int
	IterationEvents int
	WeightEvents    int
	TouchedParents  int // existing issues, MRs and epics that got new resource events
	RapidEdits      int // resource events that did not bump their parent's updated_at
	AuditEvents     int // new audit events, one of them at the instant of the newest before
	Reassigned      int // existing issues and MRs whose assignees or reviewers changed
	Notes           int // new notes (system notes and comments), all parents
}

// Clone returns a deep copy of d.
func (d *Data) Clone() *Data {
	c := *d
	c.Users = append([]User(nil), d.Users...)
	c.Groups = append([]Group(nil), d.Groups...)
	c.Projects = append([]Project(nil), d.Projects...)
	c.Labels = append([]Label(nil), d.Labels...)
	c.Iterations = append([]Iteration(nil), d.Iterations...)
	c.Milestones = append([]Milestone(nil), d.Milestones...)
	for i := range c.Milestones {
		c.Milestones[i].StartDate = cloneTime(c.Milestones[i].StartDate)
		c.Milestones[i].DueDate = cloneTime(c.Milestones[i].DueDate)
	}
	c.Issues = append([]Issue(nil), d.Issues...)
	for i := range c.Issues {
		is := &c.Issues[i]
		is.ClosedAt, is.DueDate = cloneTime(is.ClosedAt), cloneTime(is.DueDate)
		is.AssigneeIDs = slices.Clone(is.AssigneeIDs)
	}
	c.MergeRequests = append([]MergeRequest(nil), d.MergeRequests...)
	for i := range c.MergeRequests {
		mr := &c.MergeRequests[i]
		mr.ClosedAt, mr.MergedAt = cloneTime(mr.ClosedAt), cloneTime(mr.MergedAt)
		mr.AssigneeIDs, mr.ReviewerIDs = slices.Clone(mr.AssigneeIDs), slices.Clone(mr.ReviewerIDs)
	}
	c.Epics = append([]Epic(nil), d.Epics...)
	for i := range c.Epics {
		c.Epics[i].ClosedAt = cloneTime(c.Epics[i].ClosedAt)
	}
	c.Events = append([]Event(nil), d.Events...)
	for i := range c.Events {
		e := &c.Events[i]
		if e.Push != nil {
			p := *e.Push
			e.Push = &p
		}
		if e.Note != nil {
			n := *e.Note
			if n.Position != nil {
				p := *n.Position
				n.Position = &p
			}
			e.Note = &n
		}
		if e.Wiki != nil {
			w := *e.Wiki
			e.Wiki = &w
		}
	}
	c.LabelEvents = cloneRes(d.LabelEvents)
	c.StateEvents = cloneRes(d.StateEvents)
	c.MilestoneEvents = cloneRes(d.MilestoneEvents)
	c.IterationEvents = cloneRes(d.IterationEvents)
	c.WeightEvents = cloneRes(d.WeightEvents)
	c.Notes = append([]ParentNote(nil), d.Notes...)
	for i := range c.Notes {
		c.Notes[i].Targets = slices.Clone(c.Notes[i].Targets)
	}
	c.AuditEvents = append([]AuditEvent(nil), d.AuditEvents...)
	for i := range c.AuditEvents {
		c.AuditEvents[i].Extra = maps.Clone(c.AuditEvents[i].Extra)
	}
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}

func cloneRes(in []ResourceEvent) []ResourceEvent {
	out := append([]ResourceEvent(nil), in...)
	for i := range out {
		if out[i].Weight != nil {
			w := *out[i].Weight
			out[i].Weight = &w
		}
	}
	return out
}

// Project returns the project with the given id or full path, or nil.
func (d *Data) Project(idOrPath any) *Project {
	for i := range d.Projects {
		p := &d.Projects[i]
		switch v := idOrPath.(type) {
		case int64:
			if p.ID == v {
				return p
			}
		case int:
			if p.ID == int64(v) {
				return p
			}
		case string:
			if p.PathWithNamespace == v {
				return p
			}
		}
	}
	return nil
}

// UserByName returns the user with the given username, or nil.
func (d *Data) UserByName(username string) *User {
	for i := range d.Users {
		if d.Users[i].Username == username {
			return &d.Users[i]
		}
	}
	return nil
}

// VisibleEvents returns the non-hidden Events API rows for which keep
// returns true (keep may be nil), in id order.
func (d *Data) VisibleEvents(keep func(*Event) bool) []Event {
	var out []Event
	for i := range d.Events {
		e := &d.Events[i]
		if !e.Hidden && (keep == nil || keep(e)) {
			out = append(out, *e)
		}
	}
	return out
}

// ResourceEvents returns the family's slice: "label", "state", "milestone",
// "iteration" or "weight" (nil for anything else).
func (d *Data) ResourceEvents(family string) []ResourceEvent {
	switch family {
	case "label":
		return d.LabelEvents
	case "state":
		return d.StateEvents
	case "milestone":
		return d.MilestoneEvents
	case "iteration":
		return d.IterationEvents
	case "weight":
		return d.WeightEvents
	}
	return nil
}

// family indexes, in the order of the Data fields.
const (
	famLabel = iota
	famState
	famMilestone
	famIteration
	famWeight
	numFams
)

var famNames = [numFams]string{"label", "state", "milestone", "iteration", "weight"}

func (d *Data) fam(f int) *[]ResourceEvent {
	switch f {
	case famLabel:
		return &d.LabelEvents
	case famState:
		return &d.StateEvents
	case famMilestone:
		return &d.MilestoneEvents
	case famIteration:
		return &d.IterationEvents
	default:
		return &d.WeightEvents
	}
}
