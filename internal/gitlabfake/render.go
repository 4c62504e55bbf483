package gitlabfake

import (
	"strconv"
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
	return jUser{ID: u.ID, Username: u.Username, Name: u.Name, State: u.State, Locked: u.State == "blocked",
		AvatarURL: s.idx.avatar[u.ID], WebURL: baseURL(rq.r) + "/" + u.Username}
}

func (s *Server) userPtr(rq *request, id int64) *jUser {
	if id == 0 {
		return nil
	}
	u := s.user(rq, id)
	return &u
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
	Ref         string  `json:"ref"`
	CommitTitle *string `json:"commit_title"`
	RefCount    *int64  `json:"ref_count"`
}

type jNote struct {
	ID           int64   `json:"id"`
	Type         *string `json:"type"`
	Body         string  `json:"body"`
	Attachment   *string `json:"attachment"`
	Author       jUser   `json:"author"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
	System       bool    `json:"system"`
	NoteableID   int64   `json:"noteable_id"`
	NoteableType string  `json:"noteable_type"`
	ProjectID    int64   `json:"project_id"`
	Resolvable   bool    `json:"resolvable"`
	Confidential bool    `json:"confidential"`
	Internal     bool    `json:"internal"`
	NoteableIID  int64   `json:"noteable_iid"`
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
		CreatedAt: ts(e.CreatedAt, zone), Author: author, ImportedFrom: "none", AuthorUsername: author.Username}
	if e.TargetType != "" {
		out.TargetType = ptr(e.TargetType)
		out.TargetID = ptr(e.TargetID)
		out.TargetIID = ptr(e.TargetIID)
		out.TargetTitle = strPtr(e.TargetTitle)
	}
	if n := e.Note; n != nil {
		out.Note = &jNote{ID: n.ID, Body: n.Body, Author: s.user(rq, n.AuthorID), CreatedAt: ts(n.CreatedAt, zone),
			UpdatedAt: ts(n.CreatedAt, zone), System: n.System, NoteableID: n.NoteableID, NoteableType: n.NoteableType,
			ProjectID: e.ProjectID, NoteableIID: n.NoteableIID}
	}
	if w := e.Wiki; w != nil {
		out.WikiPage = &jWiki{Format: w.Format, Slug: w.Slug, Title: w.Title}
	}
	if p := e.Push; p != nil {
		out.PushData = &jPush{CommitCount: p.CommitCount, Action: p.Action, RefType: p.RefType, CommitFrom: strPtr(p.CommitFrom),
			CommitTo: strPtr(p.CommitTo), Ref: p.Ref, CommitTitle: strPtr(p.CommitTitle)}
	}
	return out
}

// ---- issues, merge requests, epics ----

type jIssue struct {
	ID          int64    `json:"id"`
	IID         int64    `json:"iid"`
	ProjectID   int64    `json:"project_id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	State       string   `json:"state"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
	ClosedAt    *string  `json:"closed_at"`
	Labels      []string `json:"labels"`
	Author      jUser    `json:"author"`
	Assignees   []jUser  `json:"assignees"`
	Type        string   `json:"type,omitempty"`
	WebURL      string   `json:"web_url"`
}

type jMergeRequest struct {
	jIssue
	MergedAt     *string `json:"merged_at"`
	TargetBranch string  `json:"target_branch"`
	SourceBranch string  `json:"source_branch"`
	Draft        bool    `json:"draft"`
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
}

// currentLabels replays a parent's label events into its current label names.
func (s *Server) currentLabels(k pkey) []string {
	var ids []int64
	for _, i := range s.idx.res[famLabel][k] {
		e := &s.d.LabelEvents[i]
		if e.LabelID == 0 {
			continue
		}
		at := -1
		for j, id := range ids {
			if id == e.LabelID {
				at = j
			}
		}
		switch {
		case e.Action == "add" && at < 0:
			ids = append(ids, e.LabelID)
		case e.Action == "remove" && at >= 0:
			ids = append(ids[:at], ids[at+1:]...)
		}
	}
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		if li, ok := s.idx.labelByID[id]; ok {
			names = append(names, s.d.Labels[li].Name)
		}
	}
	return names
}

func (s *Server) projectPath(pid int64) string {
	if i, ok := s.idx.projByID[pid]; ok {
		return s.d.Projects[i].PathWithNamespace
	}
	return ""
}

func (s *Server) issue(rq *request, is *Issue) jIssue {
	z := s.projectZone(is.ProjectID)
	return jIssue{ID: is.ID, IID: is.IID, ProjectID: is.ProjectID, Title: is.Title, State: is.State,
		CreatedAt: ts(is.CreatedAt, z), UpdatedAt: ts(is.UpdatedAt, z), ClosedAt: tsPtr(is.ClosedAt, z),
		Labels: s.currentLabels(pkey{ptIssue, is.ID}), Author: s.user(rq, is.AuthorID), Assignees: []jUser{}, Type: "ISSUE",
		WebURL: baseURL(rq.r) + "/" + s.projectPath(is.ProjectID) + "/-/issues/" + strconv.FormatInt(is.IID, 10)}
}

func (s *Server) mergeRequest(rq *request, mr *MergeRequest) jMergeRequest {
	z := s.projectZone(mr.ProjectID)
	return jMergeRequest{jIssue: jIssue{ID: mr.ID, IID: mr.IID, ProjectID: mr.ProjectID, Title: mr.Title, State: mr.State,
		CreatedAt: ts(mr.CreatedAt, z), UpdatedAt: ts(mr.UpdatedAt, z), ClosedAt: tsPtr(mr.ClosedAt, z),
		Labels: s.currentLabels(pkey{ptMR, mr.ID}), Author: s.user(rq, mr.AuthorID), Assignees: []jUser{},
		WebURL: baseURL(rq.r) + "/" + s.projectPath(mr.ProjectID) + "/-/merge_requests/" + strconv.FormatInt(mr.IID, 10)},
		MergedAt: tsPtr(mr.MergedAt, z), TargetBranch: "main", SourceBranch: mr.SourceBranch}
}

func (s *Server) epic(rq *request, ep *Epic) jEpic {
	g := &s.d.Groups[s.idx.groupByID[ep.GroupID]]
	return jEpic{ID: ep.ID, IID: ep.IID, GroupID: ep.GroupID, Title: ep.Title, State: ep.State,
		WebURL: baseURL(rq.r) + "/groups/" + g.FullPath + "/-/epics/" + strconv.FormatInt(ep.IID, 10),
		Author: s.user(rq, ep.AuthorID), CreatedAt: ts(ep.CreatedAt, time.UTC), UpdatedAt: ts(ep.UpdatedAt, time.UTC),
		ClosedAt: tsPtr(ep.ClosedAt, time.UTC), Labels: s.currentLabels(pkey{ptEpic, ep.ID})}
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
}

type jMilestone struct {
	ID          int64   `json:"id"`
	IID         int64   `json:"iid"`
	ProjectID   *int64  `json:"project_id,omitempty"`
	GroupID     *int64  `json:"group_id,omitempty"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
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
		TextColor: "#FFFFFF"}
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
		Description: m.Description, State: m.State, CreatedAt: ts(m.CreatedAt, z), UpdatedAt: ts(m.UpdatedAt, z),
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
