package gitlabfake

import (
	"strconv"
	"strings"
	"time"
)

// The j* types are the JSON GitLab writes (lib/api/entities/*.rb). Fields
// GitLab may send as null are pointers without omitempty; fields GitLab
// only exposes conditionally use omitempty.

const tsLayout = "2006-01-02T15:04:05.000Z07:00"

func ts(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(tsLayout)
}

func tsPtr(t *time.Time, loc *time.Location) *string {
	if t == nil {
		return nil
	}
	s := ts(*t, loc)
	return &s
}

func datePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.Format(time.DateOnly)
	return &s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func i64Ptr(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

func ptr[T any](v T) *T { return &v }

type jUser struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	State     string `json:"state"`
	Locked    bool   `json:"locked"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

type jUserFull struct {
	jUser
	CreatedAt   string  `json:"created_at"`
	Bio         string  `json:"bio"`
	PublicEmail *string `json:"public_email"`
	Bot         bool    `json:"bot"`
	IsAdmin     *bool   `json:"is_admin,omitempty"`
}

func (s *Server) user(rq *request, id int64) jUser {
	i, ok := s.idx.userByID[id]
	if !ok {
		i = s.idx.userByID[GhostID]
	}
	u := &s.d.Users[i]
	return jUser{ID: u.ID, Username: u.Username, Name: u.Name, State: u.State, Locked: u.Locked,
		AvatarURL: s.idx.avatar[u.ID], WebURL: baseURL(rq.r) + "/" + u.Username}
}

func (s *Server) userPtr(rq *request, id int64) *jUser {
	if id == 0 {
		return nil
	}
	u := s.user(rq, id)
	return &u
}

// users renders a list of users; never null.
func (s *Server) users(rq *request, ids []int64) []jUser {
	out := make([]jUser, len(ids))
	for i, id := range ids {
		out[i] = s.user(rq, id)
	}
	return out
}

func (s *Server) fullUser(rq *request, u *User) jUserFull {
	return jUserFull{jUser: s.user(rq, u.ID), CreatedAt: ts(u.CreatedAt, time.UTC)}
}

type jNamespace struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Path     string `json:"path"`
	Kind     string `json:"kind"`
	FullPath string `json:"full_path"`
	ParentID *int64 `json:"parent_id"`
	WebURL   string `json:"web_url"`
}

type jProject struct {
	ID                int64      `json:"id"`
	Description       *string    `json:"description"`
	Name              string     `json:"name"`
	NameWithNamespace string     `json:"name_with_namespace"`
	Path              string     `json:"path"`
	PathWithNamespace string     `json:"path_with_namespace"`
	CreatedAt         string     `json:"created_at"`
	DefaultBranch     string     `json:"default_branch"`
	WebURL            string     `json:"web_url"`
	Visibility        string     `json:"visibility"`
	Namespace         jNamespace `json:"namespace"`
}

func (s *Server) namespace(rq *request, gid int64) jNamespace {
	g := &s.d.Groups[s.idx.groupByID[gid]]
	return jNamespace{ID: g.ID, Name: g.Name, Path: g.Path, Kind: "group", FullPath: g.FullPath, ParentID: i64Ptr(g.ParentID),
		WebURL: baseURL(rq.r) + "/groups/" + g.FullPath}
}

func (s *Server) project(rq *request, p *Project) jProject {
	ns := s.namespace(rq, p.GroupID)
	return jProject{ID: p.ID, Name: p.Name, NameWithNamespace: ns.Name + " / " + p.Name, Path: p.Path,
		PathWithNamespace: p.PathWithNamespace, CreatedAt: ts(p.CreatedAt, p.Zone), DefaultBranch: "main",
		WebURL: baseURL(rq.r) + "/" + p.PathWithNamespace, Visibility: "private", Namespace: ns}
}

type jGroup struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Path        string `json:"path"`
	Description string `json:"description"`
	Visibility  string `json:"visibility"`
	FullName    string `json:"full_name"`
	FullPath    string `json:"full_path"`
	ParentID    *int64 `json:"parent_id"`
	CreatedAt   string `json:"created_at"`
	WebURL      string `json:"web_url"`
}

func (s *Server) group(rq *request, g *Group) jGroup {
	full := g.Name
	if g.ParentID != 0 {
		full = s.d.Groups[s.idx.groupByID[g.ParentID]].Name + " / " + g.Name
	}
	return jGroup{ID: g.ID, Name: g.Name, Path: g.Path, Visibility: "private", FullName: full, FullPath: g.FullPath,
		ParentID: i64Ptr(g.ParentID), CreatedAt: ts(g.CreatedAt, time.UTC), WebURL: baseURL(rq.r) + "/groups/" + g.FullPath}
}

// ---- Events API ----

type jPush struct {
	CommitCount int64   `json:"commit_count"`
	Action      string  `json:"action"`
	RefType     string  `json:"ref_type"`
	CommitFrom  *string `json:"commit_from"`
	CommitTo    *string `json:"commit_to"`
	Ref         *string `json:"ref"`
	CommitTitle *string `json:"commit_title"`
	RefCount    *int64  `json:"ref_count"`
}

// jNote is GitLab's Note entity: commit_id only on merge request diff
// notes, position only on diff notes, resolved only where resolvable.
type jNote struct {
	ID           int64      `json:"id"`
	Type         *string    `json:"type"`
	Body         string     `json:"body"`
	Attachment   *string    `json:"attachment"`
	Author       jUser      `json:"author"`
	CreatedAt    string     `json:"created_at"`
	UpdatedAt    string     `json:"updated_at"`
	System       bool       `json:"system"`
	NoteableID   int64      `json:"noteable_id"`
	NoteableType string     `json:"noteable_type"`
	ProjectID    int64      `json:"project_id"`
	CommitID     *string    `json:"commit_id,omitempty"`
	Position     *jPosition `json:"position,omitempty"`
	Resolvable   bool       `json:"resolvable"`
	Resolved     *bool      `json:"resolved,omitempty"`
	ResolvedBy   *jUser     `json:"resolved_by,omitempty"`
	Confidential bool       `json:"confidential"`
	Internal     bool       `json:"internal"`
	Imported     bool       `json:"imported"`
	ImportedFrom string     `json:"imported_from"`
	NoteableIID  int64      `json:"noteable_iid"`
}

type jPosition struct {
	BaseSHA      string  `json:"base_sha"`
	StartSHA     string  `json:"start_sha"`
	HeadSHA      string  `json:"head_sha"`
	OldPath      string  `json:"old_path"`
	NewPath      string  `json:"new_path"`
	PositionType string  `json:"position_type"`
	OldLine      *int64  `json:"old_line"`
	NewLine      *int64  `json:"new_line"`
	LineRange    *string `json:"line_range"`
}

func (s *Server) note(rq *request, e *Event, n *Note, zone *time.Location) *jNote {
	out := &jNote{ID: n.ID, Type: strPtr(n.Type), Body: n.Body, Author: s.user(rq, n.AuthorID), CreatedAt: ts(n.CreatedAt, zone),
		UpdatedAt: ts(n.CreatedAt, zone), System: n.System, NoteableID: n.NoteableID, NoteableType: n.NoteableType,
		ProjectID: e.ProjectID, Resolvable: n.Resolvable, Confidential: n.Internal, Internal: n.Internal,
		ImportedFrom: "none", NoteableIID: n.NoteableIID}
	if n.Resolvable {
		out.Resolved = ptr(n.Resolved)
	}
	if p := n.Position; p != nil {
		out.Position = &jPosition{BaseSHA: n.CommitID, StartSHA: n.CommitID, HeadSHA: n.CommitID,
			OldPath: p.OldPath, NewPath: p.NewPath, PositionType: "text", OldLine: i64Ptr(p.OldLine), NewLine: i64Ptr(p.NewLine)}
		if n.NoteableType == "MergeRequest" {
			out.CommitID = strPtr(n.CommitID)
		}
	}
	return out
}

type jWiki struct {
	Format string `json:"format"`
	Slug   string `json:"slug"`
	Title  string `json:"title"`
}

type jEvent struct {
	ID             int64   `json:"id"`
	ProjectID      int64   `json:"project_id"`
	ActionName     string  `json:"action_name"`
	TargetID       *int64  `json:"target_id"`
	TargetIID      *int64  `json:"target_iid"`
	TargetType     *string `json:"target_type"`
	AuthorID       int64   `json:"author_id"`
	TargetTitle    *string `json:"target_title"`
	CreatedAt      string  `json:"created_at"`
	Note           *jNote  `json:"note,omitempty"`
	Author         jUser   `json:"author"`
	WikiPage       *jWiki  `json:"wiki_page,omitempty"`
	Imported       bool    `json:"imported"`
	ImportedFrom   string  `json:"imported_from"`
	PushData       *jPush  `json:"push_data,omitempty"`
	AuthorUsername string  `json:"author_username"`
}

func (s *Server) event(rq *request, e *Event) jEvent {
	zone := s.projectZone(e.ProjectID)
	author := s.user(rq, e.AuthorID)
	out := jEvent{ID: e.ID, ProjectID: e.ProjectID, ActionName: e.ActionName, AuthorID: e.AuthorID,
		CreatedAt: ts(e.CreatedAt, zone), Author: author, Imported: e.ImportedFrom != "", ImportedFrom: "none",
		AuthorUsername: author.Username}
	if e.ImportedFrom != "" {
		out.ImportedFrom = e.ImportedFrom
	}
	if e.TargetType != "" {
		out.TargetType = ptr(e.TargetType)
		out.TargetID = ptr(e.TargetID)
		out.TargetIID = ptr(e.TargetIID)
		out.TargetTitle = strPtr(e.TargetTitle)
	}
	if n := e.Note; n != nil {
		out.Note = s.note(rq, e, n, zone)
	}
	if w := e.Wiki; w != nil {
		out.WikiPage = &jWiki{Format: w.Format, Slug: w.Slug, Title: w.Title}
	}
	if p := e.Push; p != nil {
		out.PushData = &jPush{CommitCount: p.CommitCount, Action: p.Action, RefType: p.RefType, CommitFrom: strPtr(p.CommitFrom),
			CommitTo: strPtr(p.CommitTo), Ref: strPtr(p.Ref), CommitTitle: strPtr(p.CommitTitle), RefCount: i64Ptr(p.RefCount)}
	}
	return out
}

// ---- issues, merge requests, epics ----

// jIssuable is what GitLab's issue and merge request entities share.
type jIssuable struct {
	ID          int64       `json:"id"`
	IID         int64       `json:"iid"`
	ProjectID   int64       `json:"project_id"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	State       string      `json:"state"`
	CreatedAt   string      `json:"created_at"`
	UpdatedAt   string      `json:"updated_at"`
	ClosedAt    *string     `json:"closed_at"`
	Labels      []string    `json:"labels"`
	Milestone   *jMilestone `json:"milestone"`
	Author      jUser       `json:"author"`
	Assignees   []jUser     `json:"assignees"`
	Assignee    *jUser      `json:"assignee"` // the first assignee; deprecated by GitLab, still sent
	WebURL      string      `json:"web_url"`
	TimeStats   jTimeStats  `json:"time_stats"`
}

type jTimeStats struct {
	TimeEstimate        int64   `json:"time_estimate"`
	TotalTimeSpent      int64   `json:"total_time_spent"`
	HumanTimeEstimate   *string `json:"human_time_estimate"`
	HumanTotalTimeSpent *string `json:"human_total_time_spent"`
}

func timeStats(estimate, spent int64) jTimeStats {
	human := func(sec int64) *string {
		if sec == 0 {
			return nil
		}
		return ptr((time.Duration(sec) * time.Second).String())
	}
	return jTimeStats{TimeEstimate: estimate, TotalTimeSpent: spent, HumanTimeEstimate: human(estimate), HumanTotalTimeSpent: human(spent)}
}

// optInt64 is a field GitLab sends only where a feature is licensed: a nil
// *optInt64 leaves the key out (with omitempty), a nil v sends null.
type optInt64 struct{ v *int64 }

func (o optInt64) MarshalJSON() ([]byte, error) {
	if o.v == nil {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatInt(*o.v, 10)), nil
}

type jIssue struct {
	jIssuable
	Type         string    `json:"type"`       // ISSUE, INCIDENT, TASK
	IssueType    string    `json:"issue_type"` // issue, incident, task
	Confidential bool      `json:"confidential"`
	DueDate      *string   `json:"due_date"`
	Weight       *optInt64 `json:"weight,omitempty"` // Premium only
}

type jMergeRequest struct {
	jIssuable
	MergedAt       *string `json:"merged_at"`
	MergedBy       *jUser  `json:"merged_by"` // deprecated by GitLab for merge_user, still sent
	MergeUser      *jUser  `json:"merge_user"`
	Reviewers      []jUser `json:"reviewers"`
	TargetBranch   string  `json:"target_branch"`
	SourceBranch   string  `json:"source_branch"`
	Draft          bool    `json:"draft"`
	WorkInProgress bool    `json:"work_in_progress"` // draft's old name, still sent
}

type jEpic struct {
	ID          int64    `json:"id"`
	IID         int64    `json:"iid"`
	GroupID     int64    `json:"group_id"`
	ParentID    *int64   `json:"parent_id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	State       string   `json:"state"`
	WebURL      string   `json:"web_url"`
	Author      jUser    `json:"author"`
	StartDate   *string  `json:"start_date"`
	DueDate     *string  `json:"due_date"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
	ClosedAt    *string  `json:"closed_at"`
	Labels      []string `json:"labels"`
	WorkItemID  int64    `json:"work_item_id"`
}

// current is what parent k's resource events leave it with.
func (s *Server) current(k pkey) Current {
	c, ok := s.idx.current[k]
	if !ok {
		c.Labels = []string{}
	}
	return c
}

func (s *Server) projectPath(pid int64) string {
	if i, ok := s.idx.projByID[pid]; ok {
		return s.d.Projects[i].PathWithNamespace
	}
	return ""
}

// issuable renders what issues and merge requests share; path is
// "issues" or "merge_requests".
func (s *Server) issuable(rq *request, k pkey, path string, iid, projectID, authorID int64, title, state string,
	created, updated time.Time, closed *time.Time, assignees []int64) jIssuable {
	z := s.projectZone(projectID)
	c := s.current(k)
	out := jIssuable{ID: k.id, IID: iid, ProjectID: projectID, Title: title, State: state,
		CreatedAt: ts(created, z), UpdatedAt: ts(updated, z), ClosedAt: tsPtr(closed, z),
		Labels: c.Labels, Milestone: s.milestone(rq, c.MilestoneID), Author: s.user(rq, authorID),
		Assignees: s.users(rq, assignees),
		WebURL:    baseURL(rq.r) + "/" + s.projectPath(projectID) + "/-/" + path + "/" + strconv.FormatInt(iid, 10)}
	if len(assignees) > 0 {
		out.Assignee = s.userPtr(rq, assignees[0])
	}
	return out
}

func (s *Server) issue(rq *request, is *Issue) jIssue {
	out := jIssue{jIssuable: s.issuable(rq, pkey{ptIssue, is.ID}, "issues", is.IID, is.ProjectID, is.AuthorID, is.Title, is.State,
		is.CreatedAt, is.UpdatedAt, is.ClosedAt, is.AssigneeIDs),
		Type: strings.ToUpper(is.IssueType), IssueType: is.IssueType, Confidential: is.Confidential, DueDate: datePtr(is.DueDate)}
	out.TimeStats = timeStats(is.TimeEstimate, is.TotalTimeSpent)
	if p := s.idx.projByID[is.ProjectID]; s.d.Groups[s.idx.groupByID[s.d.Projects[p].GroupID]].Premium {
		out.Weight = &optInt64{s.current(pkey{ptIssue, is.ID}).Weight}
	}
	return out
}

func (s *Server) mergeRequest(rq *request, mr *MergeRequest) jMergeRequest {
	z := s.projectZone(mr.ProjectID)
	return jMergeRequest{jIssuable: s.issuable(rq, pkey{ptMR, mr.ID}, "merge_requests", mr.IID, mr.ProjectID, mr.AuthorID, mr.Title,
		mr.State, mr.CreatedAt, mr.UpdatedAt, mr.ClosedAt, mr.AssigneeIDs),
		MergedAt: tsPtr(mr.MergedAt, z), MergedBy: s.userPtr(rq, mr.MergedByID), MergeUser: s.userPtr(rq, mr.MergeUserID),
		Reviewers: s.users(rq, mr.ReviewerIDs), TargetBranch: mr.TargetBranch, SourceBranch: mr.SourceBranch,
		Draft: mr.Draft, WorkInProgress: mr.Draft}
}

func (s *Server) epic(rq *request, ep *Epic) jEpic {
	g := &s.d.Groups[s.idx.groupByID[ep.GroupID]]
	return jEpic{ID: ep.ID, IID: ep.IID, GroupID: ep.GroupID, Title: ep.Title, State: ep.State,
		WebURL: baseURL(rq.r) + "/groups/" + g.FullPath + "/-/epics/" + strconv.FormatInt(ep.IID, 10),
		Author: s.user(rq, ep.AuthorID), CreatedAt: ts(ep.CreatedAt, time.UTC), UpdatedAt: ts(ep.UpdatedAt, time.UTC),
		ClosedAt: tsPtr(ep.ClosedAt, time.UTC), Labels: s.current(pkey{ptEpic, ep.ID}).Labels, WorkItemID: ep.WorkItemID}
}

// ---- resource events ----

type jLabel struct {
	ID              int64   `json:"id"`
	Name            string  `json:"name"`
	Color           string  `json:"color"`
	Description     *string `json:"description"`
	DescriptionHTML string  `json:"description_html"`
	TextColor       string  `json:"text_color"`
	RemoveOnClose   bool    `json:"remove_on_close"`
	Archived        bool    `json:"archived"`
}

type jMilestone struct {
	ID          int64   `json:"id"`
	IID         int64   `json:"iid"`
	ProjectID   *int64  `json:"project_id,omitempty"`
	GroupID     *int64  `json:"group_id,omitempty"`
	Title       string  `json:"title"`
	Description *string `json:"description"`
	State       string  `json:"state"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	DueDate     *string `json:"due_date"`
	StartDate   *string `json:"start_date"`
	Expired     bool    `json:"expired"`
	WebURL      string  `json:"web_url"`
}

type jIteration struct {
	ID          int64   `json:"id"`
	IID         int64   `json:"iid"`
	Sequence    int64   `json:"sequence"`
	GroupID     int64   `json:"group_id"`
	Title       *string `json:"title"`
	Description *string `json:"description"`
	State       int     `json:"state"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	StartDate   string  `json:"start_date"`
	DueDate     string  `json:"due_date"`
	WebURL      string  `json:"web_url"`
}

type jResBase struct {
	ID           int64  `json:"id"`
	User         *jUser `json:"user"`
	CreatedAt    string `json:"created_at"`
	ResourceType string `json:"resource_type"`
	ResourceID   int64  `json:"resource_id"`
	// ResourceWorkItemID is sent on epic events while GitLab moves epics
	// onto work items.
	ResourceWorkItemID *int64 `json:"resource_work_item_id,omitempty"`
}

type jLabelEvent struct {
	jResBase
	Label  *jLabel `json:"label"`
	Action string  `json:"action"`
}

type jStateEvent struct {
	jResBase
	State                string  `json:"state"`
	SourceCommit         *string `json:"source_commit"`
	SourceMergeRequestID *int64  `json:"source_merge_request_id"`
}

type jMilestoneEvent struct {
	jResBase
	Milestone *jMilestone `json:"milestone"`
	Action    string      `json:"action"`
	State     string      `json:"state"`
}

type jIterationEvent struct {
	jResBase
	Iteration *jIteration `json:"iteration"`
	Action    string      `json:"action"`
}

type jWeightEvent struct {
	ID        int64  `json:"id"`
	User      *jUser `json:"user"`
	CreatedAt string `json:"created_at"`
	IssueID   int64  `json:"issue_id"`
	Weight    *int64 `json:"weight"`
}

func (s *Server) label(id int64) *jLabel {
	i, ok := s.idx.labelByID[id]
	if !ok || id == 0 {
		return nil
	}
	l := &s.d.Labels[i]
	return &jLabel{ID: l.ID, Name: l.Name, Color: l.Color, Description: strPtr(l.Description), DescriptionHTML: l.Description,
		TextColor: l.TextColor, Archived: l.Archived}
}

func (s *Server) milestone(rq *request, id int64) *jMilestone {
	i, ok := s.idx.milestoneByID[id]
	if !ok || id == 0 {
		return nil
	}
	m := &s.d.Milestones[i]
	z := time.UTC
	url := baseURL(rq.r)
	if m.ProjectID != 0 {
		z = s.projectZone(m.ProjectID)
		url += "/" + s.projectPath(m.ProjectID) + "/-/milestones/" + strconv.FormatInt(m.IID, 10)
	} else {
		url += "/groups/" + s.d.Groups[s.idx.groupByID[m.GroupID]].FullPath + "/-/milestones/" + strconv.FormatInt(m.IID, 10)
	}
	return &jMilestone{ID: m.ID, IID: m.IID, ProjectID: i64Ptr(m.ProjectID), GroupID: i64Ptr(m.GroupID), Title: m.Title,
		Description: strPtr(m.Description), State: m.State, CreatedAt: ts(m.CreatedAt, z), UpdatedAt: ts(m.UpdatedAt, z),
		DueDate: datePtr(m.DueDate), StartDate: datePtr(m.StartDate), Expired: m.DueDate != nil && m.DueDate.Before(s.d.Now),
		WebURL: url}
}

func (s *Server) iteration(rq *request, id int64) *jIteration {
	i, ok := s.idx.iterationByID[id]
	if !ok || id == 0 {
		return nil
	}
	it := &s.d.Iterations[i]
	g := &s.d.Groups[s.idx.groupByID[it.GroupID]]
	return &jIteration{ID: it.ID, IID: it.IID, Sequence: it.IID, GroupID: it.GroupID, Title: strPtr(it.Title), State: it.State,
		CreatedAt: ts(it.CreatedAt, time.UTC), UpdatedAt: ts(it.UpdatedAt, time.UTC),
		StartDate: it.StartDate.Format(time.DateOnly), DueDate: it.DueDate.Format(time.DateOnly),
		WebURL: baseURL(rq.r) + "/groups/" + g.FullPath + "/-/iterations/" + strconv.FormatInt(it.ID, 10)}
}

func (s *Server) resourceEvent(rq *request, fam int, e *ResourceEvent, zone *time.Location) any {
	base := jResBase{ID: e.ID, User: s.userPtr(rq, e.UserID), CreatedAt: ts(e.CreatedAt, zone), ResourceType: e.ParentType,
		ResourceID: e.ParentID}
	if e.ParentType == "Epic" {
		if i, ok := s.idx.epicByID[e.ParentID]; ok {
			base.ResourceWorkItemID = i64Ptr(s.d.Epics[i].WorkItemID)
		}
	}
	switch fam {
	case famLabel:
		return jLabelEvent{jResBase: base, Label: s.label(e.LabelID), Action: e.Action}
	case famState:
		return jStateEvent{jResBase: base, State: e.State, SourceCommit: strPtr(e.SourceCommit),
			SourceMergeRequestID: i64Ptr(e.SourceMergeRequestID)}
	case famMilestone:
		return jMilestoneEvent{jResBase: base, Milestone: s.milestone(rq, e.MilestoneID), Action: e.Action, State: e.State}
	case famIteration:
		return jIterationEvent{jResBase: base, Iteration: s.iteration(rq, e.IterationID), Action: e.Action}
	default:
		var w *int64
		if e.Weight != nil {
			w = ptr(*e.Weight)
		}
		return jWeightEvent{ID: e.ID, User: base.User, CreatedAt: base.CreatedAt, IssueID: e.ParentID, Weight: w}
	}
}

// ---- audit events ----

type jAuditEvent struct {
	ID         int64          `json:"id"`
	AuthorID   *int64         `json:"author_id"`
	EntityID   int64          `json:"entity_id"`
	EntityType string         `json:"entity_type"`
	EventName  string         `json:"event_name"`
	Details    map[string]any `json:"details"`
	CreatedAt  string         `json:"created_at"`
}

func (s *Server) auditEvent(e *AuditEvent) jAuditEvent {
	var author *User
	if i, ok := s.idx.userByID[e.AuthorID]; ok {
		author = &s.d.Users[i]
	}
	return jAuditEvent{ID: e.ID, AuthorID: i64Ptr(e.AuthorID), EntityID: e.EntityID, EntityType: e.EntityType,
		EventName: e.EventName, Details: auditDetails(e, author), CreatedAt: ts(e.CreatedAt, time.UTC)}
}
