package transform

import "github.com/labtrail/labtrail/extract"

// The resource_*_events tables start with the same columns: id, then the
// issue, merge request or epic the event belongs to. resource_type and
// resource_id come from the event when GitLab sent them, else from the
// Parent the events were read from; resource_iid, project_id and group_id
// come from the Parent, null when zero (project_id for epics, group_id for
// issues and merge requests).
func setResource(b *Builder, p extract.Parent, id int64, resourceType string, resourceID int64) {
	b.setInt64Val("id", id)
	if resourceType == "" {
		resourceType = string(p.Type)
	}
	b.setStringNZ("resource_type", resourceType)
	if resourceID == 0 {
		resourceID = p.ID
	}
	b.setInt64NZ("resource_id", resourceID)
	b.setInt64NZ("resource_iid", p.IID)
	b.setInt64NZ("project_id", p.ProjectID)
	b.setInt64NZ("group_id", p.GroupID)
}

// setUser fills user_id, user_username, user_name and user_state; a nil u
// (GitLab sends null for some deleted users) leaves them null.
func setUser(b *Builder, u *extract.User) {
	if u == nil {
		return
	}
	b.setInt64Val("user_id", u.ID)
	b.setStringVal("user_username", u.Username)
	b.setStringVal("user_name", u.Name)
	b.setStringVal("user_state", u.State)
}

// AppendLabelEvent appends one row of schemas.LabelEvents read from parent p
// and collects the user and the label into refs. A nil e appends nothing.
func AppendLabelEvent(b *Builder, refs *Referenced, p extract.Parent, e *extract.LabelEvent) {
	if e == nil {
		return
	}
	setResource(b, p, e.ID, e.ResourceType, e.ResourceID)
	b.setStringVal("action", e.Action)
	b.setTime("created_at", e.CreatedAt)
	setUser(b, e.User)
	if l := e.Label; l != nil {
		b.setInt64Val("label_id", l.ID)
		b.setStringVal("label_name", l.Name)
		b.setStringVal("label_color", l.Color)
		b.setString("label_description", l.Description)
	}
	b.setInt64("work_item_id", e.ResourceWorkItemID)
	b.endRow()

	refs.AddUser(e.User)
	refs.AddLabel(e.Label)
}

// AppendStateEvent appends one row of schemas.StateEvents read from parent p
// and collects the user into refs. A nil e appends nothing.
func AppendStateEvent(b *Builder, refs *Referenced, p extract.Parent, e *extract.StateEvent) {
	if e == nil {
		return
	}
	setResource(b, p, e.ID, e.ResourceType, e.ResourceID)
	b.setStringVal("state", e.State)
	b.setString("source_commit", e.SourceCommit)
	b.setInt64("source_merge_request_id", e.SourceMergeRequestID)
	b.setTime("created_at", e.CreatedAt)
	setUser(b, e.User)
	b.setInt64("work_item_id", e.ResourceWorkItemID)
	b.endRow()

	refs.AddUser(e.User)
}

// AppendMilestoneEvent appends one row of schemas.MilestoneEvents read from
// parent p and collects the user and the milestone into refs. A nil e
// appends nothing.
func AppendMilestoneEvent(b *Builder, refs *Referenced, p extract.Parent, e *extract.MilestoneEvent) {
	if e == nil {
		return
	}
	setResource(b, p, e.ID, e.ResourceType, e.ResourceID)
	b.setStringVal("action", e.Action)
	b.setTime("created_at", e.CreatedAt)
	setUser(b, e.User)
	if m := e.Milestone; m != nil {
		b.setInt64Val("milestone_id", m.ID)
		b.setInt64("milestone_iid", m.IID)
		b.setStringVal("milestone_title", m.Title)
		b.setStringVal("milestone_state", m.State)
		b.setDate("milestone_due_date", m.DueDate)
		b.setDate("milestone_start_date", m.StartDate)
		b.setString("milestone_web_url", m.WebURL)
	}
	b.endRow()

	refs.AddUser(e.User)
	refs.AddMilestone(e.Milestone)
}

// AppendIterationEvent appends one row of schemas.IterationEvents read from
// parent p and collects the user and the iteration into refs. A nil e
// appends nothing. An iteration state GitLab sent as a number is written as
// its word (extract.IterationState); a null or absent state is null.
func AppendIterationEvent(b *Builder, refs *Referenced, p extract.Parent, e *extract.IterationEvent) {
	if e == nil {
		return
	}
	setResource(b, p, e.ID, e.ResourceType, e.ResourceID)
	b.setStringVal("action", e.Action)
	b.setTime("created_at", e.CreatedAt)
	setUser(b, e.User)
	if it := e.Iteration; it != nil {
		b.setInt64Val("iteration_id", it.ID)
		b.setInt64("iteration_iid", it.IID)
		b.setString("iteration_title", it.Title)
		b.setStringNZ("iteration_state", string(it.State))
		b.setDate("iteration_start_date", it.StartDate)
		b.setDate("iteration_due_date", it.DueDate)
	}
	b.endRow()

	refs.AddUser(e.User)
	refs.AddIteration(e.Iteration)
}

// AppendWeightEvent appends one row of schemas.WeightEvents read from issue p
// and collects the user into refs. A nil e appends nothing. issue_id comes
// from the event (else p.ID), resource_iid and project_id from p.
func AppendWeightEvent(b *Builder, refs *Referenced, p extract.Parent, e *extract.WeightEvent) {
	if e == nil {
		return
	}
	b.setInt64Val("id", e.ID)
	issueID := e.IssueID
	if issueID == 0 {
		issueID = p.ID
	}
	b.setInt64NZ("issue_id", issueID)
	b.setInt64NZ("resource_iid", p.IID)
	b.setInt64NZ("project_id", p.ProjectID)
	b.setInt64("weight", e.Weight)
	b.setTime("created_at", e.CreatedAt)
	setUser(b, e.User)
	b.endRow()

	refs.AddUser(e.User)
}
