package transform

import "github.com/labtrail/labtrail/extract"

// Dimension rows: one per entity, the latest values seen. A nil entity
// appends nothing.

// AppendUser appends one row of schemas.Users.
func AppendUser(b *Builder, u *extract.User) {
	if u == nil {
		return
	}
	b.setInt64Val("id", u.ID)
	b.setStringVal("username", u.Username)
	b.setStringVal("name", u.Name)
	b.setStringVal("state", u.State)
	b.setString("avatar_url", u.AvatarURL)
	b.setString("web_url", u.WebURL)
	b.setBool("locked", u.Locked)
	b.endRow()
}

// AppendLabel appends one row of schemas.Labels.
func AppendLabel(b *Builder, l *extract.Label) {
	if l == nil {
		return
	}
	b.setInt64Val("id", l.ID)
	b.setStringVal("name", l.Name)
	b.setStringVal("color", l.Color)
	b.setString("description", l.Description)
	b.setString("text_color", l.TextColor)
	b.setBool("archived", l.Archived)
	b.endRow()
}

// AppendMilestone appends one row of schemas.Milestones.
func AppendMilestone(b *Builder, m *extract.Milestone) {
	if m == nil {
		return
	}
	b.setInt64Val("id", m.ID)
	b.setInt64("iid", m.IID)
	b.setInt64("project_id", m.ProjectID)
	b.setInt64("group_id", m.GroupID)
	b.setStringVal("title", m.Title)
	b.setStringVal("state", m.State)
	b.setDate("due_date", m.DueDate)
	b.setDate("start_date", m.StartDate)
	b.setString("web_url", m.WebURL)
	b.setString("description", m.Description)
	b.setBool("expired", m.Expired)
	b.endRow()
}

// AppendIteration appends one row of schemas.Iterations. A null or absent
// state is null.
func AppendIteration(b *Builder, it *extract.Iteration) {
	if it == nil {
		return
	}
	b.setInt64Val("id", it.ID)
	b.setInt64("iid", it.IID)
	b.setInt64("group_id", it.GroupID)
	b.setString("title", it.Title)
	b.setStringNZ("state", string(it.State))
	b.setDate("start_date", it.StartDate)
	b.setDate("due_date", it.DueDate)
	b.setString("web_url", it.WebURL)
	b.endRow()
}

// AppendProject appends one row of schemas.Projects. A missing namespace
// leaves namespace_id null.
func AppendProject(b *Builder, p *extract.Project) {
	if p == nil {
		return
	}
	b.setInt64Val("id", p.ID)
	b.setStringVal("path_with_namespace", p.PathWithNamespace)
	b.setStringVal("name", p.Name)
	if ns := p.Namespace; ns != nil {
		b.setInt64Val("namespace_id", ns.ID)
	}
	b.setString("web_url", p.WebURL)
	b.endRow()
}

// setIssuable fills the columns issues and merge requests share, and
// collects the users and the milestone they reference into refs.
func setIssuable(b *Builder, refs *Referenced, i *extract.Issue) {
	b.setInt64Val("id", i.ID)
	b.setInt64Val("iid", i.IID)
	b.setInt64Val("project_id", i.ProjectID)
	b.setStringVal("title", i.Title)
	b.setStringVal("state", i.State)
	if a := i.Author; a != nil {
		b.setInt64Val("author_id", a.ID)
	}
	b.setTime("created_at", i.CreatedAt)
	b.setTime("updated_at", i.UpdatedAt)
	b.setTimePtr("closed_at", i.ClosedAt)
	b.setString("web_url", i.WebURL)
	b.setStringList("labels", i.Labels)
	b.setInt64List("assignee_ids", userIDs(refs, i.Assignees))
	if m := i.Milestone; m != nil {
		b.setInt64Val("milestone_id", m.ID)
	}
	refs.AddUser(i.Author)
	refs.AddMilestone(i.Milestone)
}

// userIDs returns the ids of us (nil for a nil list: GitLab did not send
// it) and collects the users into refs.
func userIDs(refs *Referenced, us []extract.User) []int64 {
	if us == nil {
		return nil
	}
	ids := make([]int64, len(us))
	for k := range us {
		ids[k] = us[k].ID
		refs.AddUser(&us[k])
	}
	return ids
}

// AppendIssue appends one row of schemas.Issues and collects the users and
// the milestone it references into refs.
func AppendIssue(b *Builder, refs *Referenced, i *extract.Issue) {
	if i == nil {
		return
	}
	setIssuable(b, refs, i)
	b.setInt64("weight", i.Weight)
	b.setString("issue_type", i.IssueType)
	b.setBool("confidential", i.Confidential)
	b.setDate("due_date", i.DueDate)
	if ts := i.TimeStats; ts != nil {
		b.setInt64("time_estimate", ts.TimeEstimate)
		b.setInt64("total_time_spent", ts.TotalTimeSpent)
	}
	b.endRow()
}

// AppendMergeRequest appends one row of schemas.MergeRequests and collects
// the users and the milestone it references into refs. draft falls back to
// work_in_progress, its name before GitLab 14.0.
func AppendMergeRequest(b *Builder, refs *Referenced, m *extract.MergeRequest) {
	if m == nil {
		return
	}
	setIssuable(b, refs, &m.Issue)
	b.setTimePtr("merged_at", m.MergedAt)
	b.setBool("draft", firstSet(m.Draft, m.WIP))
	b.setString("source_branch", m.SourceBranch)
	b.setString("target_branch", m.TargetBranch)
	if u := m.MergedBy; u != nil {
		b.setInt64Val("merged_by_id", u.ID)
	}
	if u := m.MergeUser; u != nil {
		b.setInt64Val("merge_user_id", u.ID)
	}
	b.setInt64List("reviewer_ids", userIDs(refs, m.Reviewers))
	b.endRow()
	refs.AddUser(m.MergedBy)
	refs.AddUser(m.MergeUser)
}

// AppendEpic appends one row of schemas.Epics and collects the author into
// refs.
func AppendEpic(b *Builder, refs *Referenced, e *extract.Epic) {
	if e == nil {
		return
	}
	b.setInt64Val("id", e.ID)
	b.setInt64Val("iid", e.IID)
	b.setInt64Val("group_id", e.GroupID)
	b.setStringVal("title", e.Title)
	b.setStringVal("state", e.State)
	if a := e.Author; a != nil {
		b.setInt64Val("author_id", a.ID)
	}
	b.setTime("created_at", e.CreatedAt)
	b.setTime("updated_at", e.UpdatedAt)
	b.setTimePtr("closed_at", e.ClosedAt)
	b.setString("web_url", e.WebURL)
	b.setInt64("work_item_id", e.WorkItemID)
	b.endRow()
	refs.AddUser(e.Author)
}
