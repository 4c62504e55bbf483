package transform

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustDate(t testing.TB, s string) *extract.Date {
	t.Helper()
	v, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return &extract.Date{Time: v}
}

// appendCase appends one entity (full: every field and nested object set;
// or bare: zero values and nil objects) to a builder of its table.
type appendCase struct {
	name  string
	table schemas.Table
	full  func(t testing.TB, b *Builder, refs *Referenced)
	bare  func(b *Builder, refs *Referenced)
}

func fullUser(id int64) *extract.User {
	return &extract.User{ID: id, Username: "u", Name: "U", State: "active", AvatarURL: ptr("a"), WebURL: ptr("w"), Locked: ptr(false)}
}

func fullMilestone(t testing.TB) *extract.Milestone {
	return &extract.Milestone{ID: 2, IID: ptr[int64](3), ProjectID: ptr[int64](4), GroupID: ptr[int64](5),
		Title: "m", State: "active", DueDate: mustDate(t, "2024-03-31"), StartDate: mustDate(t, "2024-03-01"), WebURL: ptr("w"),
		Description: ptr("d"), Expired: ptr(false)}
}

// fullIssuable is an issue with every field GitLab sends set.
func fullIssuable(t testing.TB) extract.Issue {
	return extract.Issue{ID: 1, IID: 2, ProjectID: 3, Title: "t", State: "closed", Author: fullUser(4),
		CreatedAt: mustTime(t, "2024-03-01T00:00:00Z"), UpdatedAt: mustTime(t, "2024-03-02T00:00:00Z"),
		ClosedAt: ptr(mustTime(t, "2024-03-03T00:00:00Z")), WebURL: ptr("w"),
		Labels: []string{"bug"}, Assignees: []extract.User{*fullUser(5)}, Milestone: fullMilestone(t),
		Weight: ptr[int64](3), IssueType: ptr("issue"), Confidential: ptr(false), DueDate: mustDate(t, "2024-04-01"),
		TimeStats: &extract.TimeStats{TimeEstimate: ptr[int64](3600), TotalTimeSpent: ptr[int64](0)}}
}

func appendCases() []appendCase {
	issueParent := extract.Parent{Type: "Issue", ID: 253, IID: 11, ProjectID: 5}
	groupParent := extract.Parent{Type: "Epic", ID: 33, IID: 3, ProjectID: 9, GroupID: 1} // both ids: every column set
	return []appendCase{
		{"event", schemas.Events, func(t testing.TB, b *Builder, r *Referenced) {
			AppendEvent(b, r, &extract.Event{
				ID: 1, ProjectID: ptr[int64](2), ActionName: "pushed to", TargetID: ptr[int64](3), TargetIID: ptr[int64](4),
				TargetType: ptr("Issue"), TargetTitle: ptr("t"), AuthorID: ptr[int64](5), AuthorUsername: ptr("u"),
				CreatedAt: mustTime(t, "2024-03-05T12:00:00.123+02:00"), Author: fullUser(5),
				PushData: &extract.PushData{CommitCount: ptr[int64](1), Action: ptr("pushed"), RefType: ptr("branch"),
					CommitFrom: ptr("a"), CommitTo: ptr("b"), Ref: ptr("main"), CommitTitle: ptr("c"), RefCount: ptr[int64](2)},
				Note: &extract.Note{ID: 6, Body: ptr("b"), System: ptr(false), NoteableType: ptr("Issue"),
					NoteableID: ptr[int64](7), NoteableIID: ptr[int64](8), Type: ptr("DiffNote"), Internal: ptr(false),
					Position: &extract.NotePosition{NewPath: ptr("a.go"), NewLine: ptr[int64](3)}, CommitID: ptr("c"),
					Resolvable: ptr(true), Resolved: ptr(false)},
				WikiPage: &extract.WikiPage{Title: ptr("t"), Slug: ptr("s")},
				Imported: ptr(false), ImportedFrom: ptr("none"),
			})
		}, func(b *Builder, r *Referenced) { AppendEvent(b, r, &extract.Event{}) }},
		{"label event", schemas.LabelEvents, func(t testing.TB, b *Builder, r *Referenced) {
			AppendLabelEvent(b, r, groupParent, &extract.LabelEvent{ID: 1, User: fullUser(1),
				CreatedAt: mustTime(t, "2024-03-05T12:00:00Z"), ResourceType: "Epic", ResourceID: 33,
				Label: &extract.Label{ID: 2, Name: "n", Color: "#fff", Description: ptr("d")}, Action: "add",
				ResourceWorkItemID: ptr[int64](9)})
		}, func(b *Builder, r *Referenced) { AppendLabelEvent(b, r, extract.Parent{}, &extract.LabelEvent{}) }},
		{"state event", schemas.StateEvents, func(t testing.TB, b *Builder, r *Referenced) {
			AppendStateEvent(b, r, groupParent, &extract.StateEvent{ID: 1, User: fullUser(1),
				CreatedAt: mustTime(t, "2024-03-05T12:00:00Z"), State: "closed",
				SourceCommit: ptr("abc"), SourceMergeRequestID: ptr[int64](9), ResourceWorkItemID: ptr[int64](9)})
		}, func(b *Builder, r *Referenced) { AppendStateEvent(b, r, extract.Parent{}, &extract.StateEvent{}) }},
		{"milestone event", schemas.MilestoneEvents, func(t testing.TB, b *Builder, r *Referenced) {
			AppendMilestoneEvent(b, r, groupParent, &extract.MilestoneEvent{ID: 1, User: fullUser(1),
				CreatedAt: mustTime(t, "2024-03-05T12:00:00Z"), Action: "add",
				Milestone: &extract.Milestone{ID: 2, IID: ptr[int64](3), ProjectID: ptr[int64](4), Title: "m",
					State: "active", DueDate: mustDate(t, "2024-03-31"), StartDate: mustDate(t, "2024-03-01"), WebURL: ptr("w")}})
		}, func(b *Builder, r *Referenced) {
			AppendMilestoneEvent(b, r, extract.Parent{}, &extract.MilestoneEvent{})
		}},
		{"iteration event", schemas.IterationEvents, func(t testing.TB, b *Builder, r *Referenced) {
			AppendIterationEvent(b, r, groupParent, &extract.IterationEvent{ID: 1, User: fullUser(1),
				CreatedAt: mustTime(t, "2024-03-05T12:00:00Z"), Action: "add",
				Iteration: &extract.Iteration{ID: 2, IID: ptr[int64](3), GroupID: ptr[int64](1), Title: ptr("i"),
					State: "current", StartDate: mustDate(t, "2024-03-01"), DueDate: mustDate(t, "2024-03-14"), WebURL: ptr("w")}})
		}, func(b *Builder, r *Referenced) {
			AppendIterationEvent(b, r, extract.Parent{}, &extract.IterationEvent{})
		}},
		{"weight event", schemas.WeightEvents, func(t testing.TB, b *Builder, r *Referenced) {
			AppendWeightEvent(b, r, issueParent, &extract.WeightEvent{ID: 1, User: fullUser(1),
				CreatedAt: mustTime(t, "2024-03-05T12:00:00Z"), IssueID: 253, Weight: ptr[int64](3)})
		}, func(b *Builder, r *Referenced) { AppendWeightEvent(b, r, extract.Parent{}, &extract.WeightEvent{}) }},
		{"activity", schemas.Activity, func(t testing.TB, b *Builder, r *Referenced) {
			p := groupParent
			p.WorkItemID = 9
			// No real body sets every parsed field at once; the row is
			// driven with a SystemNote that does.
			AppendActivity(b, r, p, ActivityRow{
				Note: &extract.ParentNote{Note: extract.Note{ID: 1, Body: ptr("b"), System: ptr(true), NoteableType: ptr("Epic"),
					NoteableID: ptr[int64](33), Internal: ptr(false)}, Author: fullUser(1), CreatedAt: mustTime(t, "2024-03-05T12:00:00Z")},
				Parsed: SystemNote{Action: "assignee", Usernames: []string{"a", "b"}, Added: []string{"a"}, Removed: []string{"b"},
					Old: ptr("o"), New: ptr("n"), RelatedType: "Issue", RelatedRef: "#1"},
				IDs: []*int64{ptr[int64](1), ptr[int64](2)}})
		}, func(b *Builder, r *Referenced) {
			AppendActivity(b, r, extract.Parent{}, ActivityRow{Note: &extract.ParentNote{Note: extract.Note{System: ptr(true)}}})
		}},
		{"audit event", schemas.AuditEvents, func(t testing.TB, b *Builder, r *Referenced) {
			e := &extract.AuditEvent{ID: 1, AuthorID: ptr[int64](2), EntityID: ptr[int64](3), EntityType: ptr("Project"),
				EventName: ptr("project_archived"), CreatedAt: mustTime(t, "2024-03-05T12:00:00Z")}
			if err := json.Unmarshal([]byte(`{"custom_message":"Project archived","author_name":"Administrator",
				"target_id":3,"target_type":"Project","target_details":"acme/api","ip_address":"192.0.2.1","entity_path":"acme/api"}`), &e.Details); err != nil {
				t.Fatal(err)
			}
			AppendAuditEvent(b, e)
		}, func(b *Builder, r *Referenced) { AppendAuditEvent(b, &extract.AuditEvent{}) }},
		{"user", schemas.Users, func(t testing.TB, b *Builder, r *Referenced) { AppendUser(b, fullUser(1)) },
			func(b *Builder, r *Referenced) { AppendUser(b, &extract.User{}) }},
		{"label", schemas.Labels, func(t testing.TB, b *Builder, r *Referenced) {
			AppendLabel(b, &extract.Label{ID: 1, Name: "n", Color: "c", Description: ptr("d"), TextColor: ptr("#fff"), Archived: ptr(false)})
		}, func(b *Builder, r *Referenced) { AppendLabel(b, &extract.Label{}) }},
		{"milestone", schemas.Milestones, func(t testing.TB, b *Builder, r *Referenced) {
			AppendMilestone(b, fullMilestone(t))
		}, func(b *Builder, r *Referenced) { AppendMilestone(b, &extract.Milestone{}) }},
		{"iteration", schemas.Iterations, func(t testing.TB, b *Builder, r *Referenced) {
			AppendIteration(b, &extract.Iteration{ID: 2, IID: ptr[int64](3), GroupID: ptr[int64](1), Title: ptr("i"),
				State: "closed", StartDate: mustDate(t, "2024-03-01"), DueDate: mustDate(t, "2024-03-14"), WebURL: ptr("w")})
		}, func(b *Builder, r *Referenced) { AppendIteration(b, &extract.Iteration{}) }},
		{"project", schemas.Projects, func(t testing.TB, b *Builder, r *Referenced) {
			p := &extract.Project{ID: 1, Name: "n", PathWithNamespace: "g/n", WebURL: ptr("w")}
			p.Namespace = &struct {
				ID int64 `json:"id"`
			}{ID: 2}
			AppendProject(b, p)
		}, func(b *Builder, r *Referenced) { AppendProject(b, &extract.Project{}) }},
		{"issue", schemas.Issues, func(t testing.TB, b *Builder, r *Referenced) {
			i := fullIssuable(t)
			AppendIssue(b, r, &i)
		}, func(b *Builder, r *Referenced) { AppendIssue(b, r, &extract.Issue{}) }},
		{"merge request", schemas.MergeRequests, func(t testing.TB, b *Builder, r *Referenced) {
			AppendMergeRequest(b, r, &extract.MergeRequest{Issue: fullIssuable(t),
				MergedAt: ptr(mustTime(t, "2024-03-03T00:00:00Z")), Draft: ptr(false), SourceBranch: ptr("f"), TargetBranch: ptr("main"),
				MergedBy: fullUser(6), MergeUser: fullUser(7), Reviewers: []extract.User{*fullUser(8)}})
		}, func(b *Builder, r *Referenced) { AppendMergeRequest(b, r, &extract.MergeRequest{}) }},
		{"epic", schemas.Epics, func(t testing.TB, b *Builder, r *Referenced) {
			AppendEpic(b, r, &extract.Epic{ID: 1, IID: 2, GroupID: 3, Title: "t", State: "closed", Author: fullUser(4),
				CreatedAt: mustTime(t, "2024-03-01T00:00:00Z"), UpdatedAt: mustTime(t, "2024-03-02T00:00:00Z"),
				ClosedAt: ptr(mustTime(t, "2024-03-03T00:00:00Z")), WebURL: ptr("w"), WorkItemID: ptr[int64](9)})
		}, func(b *Builder, r *Referenced) { AppendEpic(b, r, &extract.Epic{}) }},
	}
}

// TestAppendSetsKnownColumns drives every Append function with a fully
// populated entity and with a bare one (zero values, nil objects): none may
// name a column its table lacks, use a setter of the wrong type or set a
// column twice (Err stays nil), and the full entity must fill every column,
// so that a column added to schemas without a mapping here is noticed.
func TestAppendSetsKnownColumns(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range appendCases() {
		t.Run(c.name, func(t *testing.T) {
			mem := newMem(t)
			defer mem.AssertSize(t, 0)
			covered[c.table.Name] = true

			b := NewBuilder(mem, c.table, testMeta)
			defer b.Release()
			refs := NewReferenced()
			c.full(t, b, refs)
			c.bare(b, refs)
			c.full(t, b, nil) // nil refs are fine
			if err := b.Err(); err != nil {
				t.Fatalf("Err: %v", err)
			}
			rec := b.NewRecord()
			defer rec.Release()
			checkRecord(t, c.table, rec, 3)
			for i, f := range rec.Schema().Fields() {
				if rec.Column(i).IsNull(0) {
					t.Errorf("%s: full entity left %s null", c.table.Name, f.Name)
				}
			}
			for i, f := range rec.Schema().Fields() {
				if f.Nullable && !rec.Column(i).IsNull(1) && !bareMayBeSet(c.table, f.Name) {
					t.Errorf("%s: bare entity set %s = %v", c.table.Name, f.Name, value(t, rec, f.Name, 1))
				}
			}
			for _, tr := range refs.Records(mem, testMeta) {
				checkRecord(t, tr.Table, tr.Rec, int(tr.Rec.NumRows()))
				tr.Rec.Release()
			}
		})
	}
	for _, tbl := range schemas.All() {
		if !covered[tbl.Name] && tbl.Kind != schemas.Bridge { // bridges are derived by load
			t.Errorf("table %s has no Append function under test", tbl.Name)
		}
	}
}

// bareMayBeSet lists the nullable columns a zero-valued entity still fills:
// non-pointer GitLab fields (strings stay strings, even empty) and the
// stamps.
func bareMayBeSet(t schemas.Table, col string) bool {
	switch col {
	case schemas.ColExtractedAt, schemas.ColRunID:
		return true
	}
	switch t.Name {
	case "events":
		return col == "action_name"
	case "label_events", "milestone_events", "iteration_events":
		return col == "action"
	case "state_events":
		return col == "state"
	case "activity":
		return col == "action"
	case "audit_events":
		return col == "scope_type"
	case "users":
		return col != "id"
	case "labels":
		return col == "name" || col == "color"
	case "milestones":
		return col == "title" || col == "state" || col == "web_url"
	case "iterations":
		return col == "web_url"
	case "projects":
		return col == "name" || col == "path_with_namespace" || col == "web_url"
	case "issues", "merge_requests":
		return col == "iid" || col == "project_id" || col == "title" || col == "state" || col == "web_url"
	case "epics":
		return col == "iid" || col == "group_id" || col == "title" || col == "state" || col == "web_url"
	}
	return false
}

func TestAllTablesBuild(t *testing.T) {
	for _, tbl := range schemas.All() {
		mem := newMem(t)
		b := NewBuilder(mem, tbl, testMeta)
		if err := b.Err(); err != nil {
			t.Errorf("%s: %v", tbl.Name, err)
		}
		if b.Table().Name != tbl.Name {
			t.Errorf("Table() = %s", b.Table().Name)
		}
		rec := b.NewRecord()
		checkRecord(t, tbl, rec, 0)
		rec.Release()
		b.Release()
		mem.AssertSize(t, 0)
	}
}

func TestTimestamps(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.Events, testMeta)
	defer b.Release()
	for i, s := range []string{"2024-03-05T12:00:00.123+02:00", "2024-03-05T10:00:00.123Z", ""} {
		e := &extract.Event{ID: int64(i + 1)}
		if s != "" {
			e.CreatedAt = mustTime(t, s)
		}
		AppendEvent(b, nil, e)
	}
	rec := b.NewRecord()
	defer rec.Release()
	want := time.Date(2024, 3, 5, 10, 0, 0, 123_000_000, time.UTC)
	for row := range 2 {
		if got := value(t, rec, "created_at", row); got != want {
			t.Errorf("row %d: created_at = %v, want %v", row, got, want)
		}
	}
	if got := value(t, rec, "created_at", 2); got != nil {
		t.Errorf("zero time: created_at = %v, want null", got)
	}
	if got := value(t, rec, schemas.ColExtractedAt, 0); got != testMeta.ExtractedAt {
		t.Errorf("_extracted_at = %v", got)
	}
	if got := value(t, rec, schemas.ColRunID, 2); got != testMeta.RunID {
		t.Errorf("_run_id = %v", got)
	}
}

func TestDates(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.Milestones, testMeta)
	defer b.Release()
	east := time.FixedZone("east", 14*3600)
	AppendMilestone(b, &extract.Milestone{ID: 1, DueDate: mustDate(t, "2020-01-27"), StartDate: mustDate(t, "1969-12-31")})
	// A date is a calendar date, whatever its location.
	AppendMilestone(b, &extract.Milestone{ID: 2, DueDate: &extract.Date{Time: time.Date(2020, 1, 27, 0, 0, 0, 0, east)}, StartDate: &extract.Date{}})
	rec := b.NewRecord()
	defer rec.Release()
	for _, c := range []struct {
		col  string
		row  int
		want any
	}{{"due_date", 0, "2020-01-27"}, {"start_date", 0, "1969-12-31"}, {"due_date", 1, "2020-01-27"}, {"start_date", 1, nil}} {
		if got := value(t, rec, c.col, c.row); got != c.want {
			t.Errorf("row %d %s = %v, want %v", c.row, c.col, got, c.want)
		}
	}
}

func TestNullObjectsAndEmptyStrings(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	refs := NewReferenced()
	b := NewBuilder(mem, schemas.LabelEvents, testMeta)
	defer b.Release()
	p := extract.Parent{Type: "Issue", ID: 253, IID: 11, ProjectID: 5}
	AppendLabelEvent(b, refs, p, &extract.LabelEvent{ID: 1, Action: "add"})                                                  // deleted user and label
	AppendLabelEvent(b, refs, p, &extract.LabelEvent{ID: 2, Label: &extract.Label{ID: 3, Description: ptr("")}, Action: ""}) // empty strings
	rec := b.NewRecord()
	defer rec.Release()
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"user_id", "user_username", "user_name", "user_state", "label_id", "label_name", "label_color", "label_description"} {
		if got := value(t, rec, col, 0); got != nil {
			t.Errorf("row 0 %s = %v, want null", col, got)
		}
	}
	for col, want := range map[string]any{"label_id": int64(3), "label_name": "", "label_color": "", "label_description": "", "action": ""} {
		if got := value(t, rec, col, 1); got != want {
			t.Errorf("row 1 %s = %#v, want %#v", col, got, want)
		}
	}
	if refs.Len() != 1 {
		t.Errorf("refs.Len() = %d, want 1 (the label; null objects are not collected)", refs.Len())
	}
}

func TestResourceColumns(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.StateEvents, testMeta)
	defer b.Release()
	epic := extract.Parent{Type: "Epic", ID: 33, IID: 3, GroupID: 1}
	issue := extract.Parent{Type: "Issue", ID: 253, IID: 11, ProjectID: 5}
	AppendStateEvent(b, nil, epic, &extract.StateEvent{ID: 1})                                          // from the parent
	AppendStateEvent(b, nil, issue, &extract.StateEvent{ID: 2, ResourceType: "Issue", ResourceID: 254}) // from the event
	AppendStateEvent(b, nil, extract.Parent{}, &extract.StateEvent{ID: 3})                              // from nowhere
	rec := b.NewRecord()
	defer rec.Release()
	want := []map[string]any{
		{"resource_type": "Epic", "resource_id": int64(33), "resource_iid": int64(3), "project_id": nil, "group_id": int64(1)},
		{"resource_type": "Issue", "resource_id": int64(254), "resource_iid": int64(11), "project_id": int64(5), "group_id": nil},
		{"resource_type": nil, "resource_id": nil, "resource_iid": nil, "project_id": nil, "group_id": nil},
	}
	for row, cols := range want {
		for col, w := range cols {
			if got := value(t, rec, col, row); got != w {
				t.Errorf("row %d %s = %#v, want %#v", row, col, got, w)
			}
		}
	}

	wb := NewBuilder(mem, schemas.WeightEvents, testMeta)
	defer wb.Release()
	AppendWeightEvent(wb, nil, issue, &extract.WeightEvent{ID: 1})
	AppendWeightEvent(wb, nil, issue, &extract.WeightEvent{ID: 2, IssueID: 999, Weight: ptr[int64](0)})
	wrec := wb.NewRecord()
	defer wrec.Release()
	for row, cols := range []map[string]any{
		{"issue_id": int64(253), "resource_iid": int64(11), "project_id": int64(5), "weight": nil},
		{"issue_id": int64(999), "resource_iid": int64(11), "project_id": int64(5), "weight": int64(0)},
	} {
		for col, w := range cols {
			if got := value(t, wrec, col, row); got != w {
				t.Errorf("weight row %d %s = %#v, want %#v", row, col, got, w)
			}
		}
	}
}

func TestEventAuthor(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.Events, testMeta)
	defer b.Release()
	AppendEvent(b, nil, &extract.Event{ID: 1, AuthorID: ptr[int64](7), AuthorUsername: ptr("top"), Author: &extract.User{ID: 8, Username: "obj", Name: "N"}})
	AppendEvent(b, nil, &extract.Event{ID: 2, Author: &extract.User{ID: 8, Username: "obj", Name: "N"}})
	AppendEvent(b, nil, &extract.Event{ID: 3, AuthorID: ptr[int64](7)})
	rec := b.NewRecord()
	defer rec.Release()
	for row, cols := range []map[string]any{
		{"author_id": int64(7), "author_username": "top", "author_name": "N"},
		{"author_id": int64(8), "author_username": "obj", "author_name": "N"},
		{"author_id": int64(7), "author_username": nil, "author_name": nil},
	} {
		for col, w := range cols {
			if got := value(t, rec, col, row); got != w {
				t.Errorf("row %d %s = %#v, want %#v", row, col, got, w)
			}
		}
	}
}

func TestNilEntitiesAppendNothing(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	p := extract.Parent{}
	for _, c := range []struct {
		tbl schemas.Table
		fn  func(*Builder)
	}{
		{schemas.Events, func(b *Builder) { AppendEvent(b, nil, nil) }},
		{schemas.LabelEvents, func(b *Builder) { AppendLabelEvent(b, nil, p, nil) }},
		{schemas.StateEvents, func(b *Builder) { AppendStateEvent(b, nil, p, nil) }},
		{schemas.MilestoneEvents, func(b *Builder) { AppendMilestoneEvent(b, nil, p, nil) }},
		{schemas.IterationEvents, func(b *Builder) { AppendIterationEvent(b, nil, p, nil) }},
		{schemas.WeightEvents, func(b *Builder) { AppendWeightEvent(b, nil, p, nil) }},
		{schemas.Users, func(b *Builder) { AppendUser(b, nil) }},
		{schemas.Labels, func(b *Builder) { AppendLabel(b, nil) }},
		{schemas.Milestones, func(b *Builder) { AppendMilestone(b, nil) }},
		{schemas.Iterations, func(b *Builder) { AppendIteration(b, nil) }},
		{schemas.Projects, func(b *Builder) { AppendProject(b, nil) }},
		{schemas.Issues, func(b *Builder) { AppendIssue(b, nil, nil) }},
		{schemas.MergeRequests, func(b *Builder) { AppendMergeRequest(b, nil, nil) }},
		{schemas.Epics, func(b *Builder) { AppendEpic(b, nil, nil) }},
	} {
		b := NewBuilder(mem, c.tbl, testMeta)
		c.fn(b)
		if b.Len() != 0 || b.Err() != nil {
			t.Errorf("%s: Len %d Err %v", c.tbl.Name, b.Len(), b.Err())
		}
		b.Release()
	}
}

func TestBuilderBatches(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.Users, testMeta)
	defer b.Release()
	for batch := range 3 {
		n := 1 + batch*700
		for i := range n {
			AppendUser(b, &extract.User{ID: int64(batch*10000 + i), Username: strings.Repeat("x", i%50)})
		}
		if b.Len() != n {
			t.Fatalf("Len = %d, want %d", b.Len(), n)
		}
		rec := b.NewRecord()
		checkRecord(t, schemas.Users, rec, n)
		if got := value(t, rec, "id", n-1); got != int64(batch*10000+n-1) {
			t.Errorf("batch %d: last id %v", batch, got)
		}
		rec.Release()
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestBuilderMistakes(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.Users, testMeta)
	defer b.Release()

	b.setInt64Val("id", 1)
	b.setInt64Val("no_such_column", 1)       // unknown column
	b.setInt64Val("username", 1)             // wrong type
	b.setStringVal("name", "a")              //
	b.setStringVal("name", "b")              // set twice
	b.setStringVal(schemas.ColRunID, "x")    // Meta column
	b.setTime("state", testMeta.ExtractedAt) // wrong type
	b.endRow()
	AppendEvent(b, nil, &extract.Event{ID: 2, ActionName: "wrong table"})
	b.endRow()             // id not set
	b.setInt64Val("id", 3) // a row started but never ended
	rec := b.NewRecord()
	defer rec.Release()
	checkRecord(t, schemas.Users, rec, 3)
	if got := value(t, rec, "name", 0); got != "a" {
		t.Errorf("name = %v, want the first value", got)
	}
	if got := value(t, rec, "username", 0); got != nil {
		t.Errorf("username = %v, want null", got)
	}
	if got := value(t, rec, schemas.ColRunID, 0); got != testMeta.RunID {
		t.Errorf("_run_id = %v", got)
	}
	err := b.Err()
	if err == nil {
		t.Fatal("no error reported")
	}
	for _, want := range []string{`no column "no_such_column"`, "users.username: is string, set as int64",
		"users.name: set twice", "_run_id: set from Meta only", `no column "action_name"`, "users.id: not nullable and not set",
		"row started but not ended"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Err lacks %q:\n%v", want, err)
		}
	}

	// The builder is usable afterwards.
	AppendUser(b, fullUser(4))
	rec2 := b.NewRecord()
	defer rec2.Release()
	checkRecord(t, schemas.Users, rec2, 1)
}

func TestZeroExtractedAt(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.Users, Meta{RunID: "r"})
	defer b.Release()
	AppendUser(b, fullUser(1))
	rec := b.NewRecord()
	defer rec.Release()
	checkRecord(t, schemas.Users, rec, 1)
	if b.Err() == nil || !strings.Contains(b.Err().Error(), "ExtractedAt") {
		t.Errorf("Err = %v", b.Err())
	}
}

func TestHugeStrings(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.Users, testMeta)
	defer b.Release()
	b.maxStrBytes, b.softMaxBytes = 1000, 600

	AppendUser(b, &extract.User{ID: 1, Username: strings.Repeat("a", 500)})
	if b.Full() {
		t.Error("Full after 500 bytes")
	}
	AppendUser(b, &extract.User{ID: 2, Username: strings.Repeat("b", 500)})
	if !b.Full() {
		t.Error("not Full after 1000 bytes")
	}
	AppendUser(b, &extract.User{ID: 3, Username: "c", Name: "fits"}) // would overflow username
	if b.Len() != 3 {
		t.Errorf("Len = %d, want the overflowing row kept (with a null)", b.Len())
	}
	rec := b.NewRecord()
	defer rec.Release()
	checkRecord(t, schemas.Users, rec, 3)
	if got := value(t, rec, "username", 2); got != nil {
		t.Errorf("overflowing value = %v, want null", got)
	}
	if got := value(t, rec, "name", 2); got != "fits" {
		t.Errorf("name = %v", got)
	}
	if b.Err() == nil || !strings.Contains(b.Err().Error(), "overflow") {
		t.Errorf("Err = %v", b.Err())
	}
	if b.Full() || b.Len() != 0 {
		t.Error("NewRecord did not reset")
	}

	// A really large value goes through at the real limits.
	big := NewBuilder(mem, schemas.Events, testMeta)
	defer big.Release()
	body := strings.Repeat("🦊", 4<<20) // 16 MiB
	AppendEvent(big, nil, &extract.Event{ID: 1, Note: &extract.Note{ID: 1, Body: &body}})
	brec := big.NewRecord()
	defer brec.Release()
	checkRecord(t, schemas.Events, brec, 1)
	if got := value(t, brec, "note_body", 0); got != body {
		t.Error("16 MiB note body not kept")
	}
	if big.Err() != nil {
		t.Error(big.Err())
	}
}

func TestRefs(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)

	var nilRefs *Referenced
	nilRefs.AddUser(fullUser(1))
	nilRefs.AddLabel(&extract.Label{ID: 1})
	nilRefs.AddMilestone(&extract.Milestone{ID: 1})
	nilRefs.AddIteration(&extract.Iteration{ID: 1})
	nilRefs.Reset()
	if nilRefs.Len() != 0 || nilRefs.Records(mem, testMeta) != nil {
		t.Error("nil Referenced collected something")
	}

	refs := NewReferenced()
	if got := refs.Records(mem, testMeta); len(got) != 0 {
		t.Errorf("empty Referenced gave %d records", len(got))
	}
	u := &extract.User{ID: 1, Username: "old"}
	refs.AddUser(u)
	u.Username = "mutated after add" // Referenced keeps a copy
	refs.AddUser(&extract.User{ID: 1, Username: "new"})
	refs.AddUser(&extract.User{ID: 2, Username: "two"})
	refs.AddUser(nil)
	desc := "d1"
	l := &extract.Label{ID: 5, Name: "l", Description: &desc}
	refs.AddLabel(l)
	desc = "mutated through the pointer"
	refs.AddMilestone(&extract.Milestone{ID: 9, Title: "first"})
	refs.AddMilestone(&extract.Milestone{ID: 9, Title: "latest", GroupID: ptr[int64](4)})
	if refs.Len() != 4 {
		t.Fatalf("Len = %d, want 4", refs.Len())
	}
	trs := refs.Records(mem, testMeta)
	defer func() {
		for _, tr := range trs {
			tr.Rec.Release()
		}
	}()
	var names []string
	for _, tr := range trs {
		names = append(names, tr.Table.Name)
		checkRecord(t, tr.Table, tr.Rec, int(tr.Rec.NumRows()))
	}
	if strings.Join(names, ",") != "users,labels,milestones" {
		t.Fatalf("records for %v", names)
	}
	if got := value(t, trs[0].Rec, "username", 0); got != "new" {
		t.Errorf("user 1 = %v, want the latest", got)
	}
	if got := value(t, trs[1].Rec, "description", 0); got != "d1" {
		t.Errorf("label description = %v, want a copy", got)
	}
	if got := value(t, trs[2].Rec, "title", 0); got != "latest" {
		t.Errorf("milestone = %v, want the latest", got)
	}
	if got := value(t, trs[2].Rec, "group_id", 0); got != int64(4) {
		t.Errorf("milestone group_id = %v", got)
	}

	refs.Reset()
	if refs.Len() != 0 {
		t.Errorf("Len after Reset = %d", refs.Len())
	}
	var zero Referenced // the zero value works too
	zero.AddIteration(&extract.Iteration{ID: 1, State: "closed"})
	zrec := zero.Records(mem, testMeta)
	if len(zrec) != 1 || zrec[0].Table.Name != "iterations" {
		t.Fatalf("zero Referenced records %v", zrec)
	}
	zrec[0].Rec.Release()
}

// TestRefsKnowEntityFields guards Referenced' change detection and deep copies:
// when an entity gains a field, refs.go must learn it.
func TestRefsKnowEntityFields(t *testing.T) {
	for _, c := range []struct {
		v    any
		want int
	}{{extract.User{}, 7}, {extract.Label{}, 6}, {extract.Milestone{}, 11}, {extract.Iteration{}, 8}} {
		if n := reflect.TypeOf(c.v).NumField(); n != c.want {
			t.Errorf("%T has %d fields, refs.go knows %d: update AddLabel/AddMilestone/AddIteration and this test", c.v, n, c.want)
		}
	}
}

// TestFixturesWellFormed checks the fixture files themselves.
func TestFixturesWellFormed(t *testing.T) {
	for name, fx := range readFixtures(t) {
		var items []json.RawMessage
		if err := json.Unmarshal(fx.Items, &items); err != nil || len(items) == 0 {
			t.Errorf("%s: items: %v (%d)", name, err, len(items))
		}
		if fx.Comment == "" {
			t.Errorf("%s: no comment", name)
		}
		kindByName(t, fx.Table)
	}
}

func TestInvalidUTF8(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.StateEvents, Meta{RunID: "run\xff", ExtractedAt: testMeta.ExtractedAt})
	defer b.Release()
	AppendStateEvent(b, nil, extract.Parent{Type: "Iss\x84ue"}, &extract.StateEvent{ID: 1, State: "ok"})
	rec := b.NewRecord()
	defer rec.Release()
	checkRecord(t, schemas.StateEvents, rec, 1) // validates UTF-8
	if got := value(t, rec, "resource_type", 0); got != "Iss\uFFFDue" {
		t.Errorf("resource_type = %q", got)
	}
	if got := value(t, rec, schemas.ColRunID, 0); got != "run\uFFFD" {
		t.Errorf("_run_id = %q", got)
	}
}

// List columns: nil is null and empty is an empty list; a list of strings
// counts towards Full and its elements are capped like a string column's,
// element by element; a list set with the wrong setter is a mistake.
func TestListColumns(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	b := NewBuilder(mem, schemas.Issues, testMeta)
	defer b.Release()
	b.maxStrBytes, b.softMaxBytes = 1000, 600

	AppendIssue(b, nil, &extract.Issue{ID: 1, Labels: []string{strings.Repeat("a", 700)}, Assignees: []extract.User{{ID: 7}, {ID: 8}}})
	if !b.Full() {
		t.Error("not Full after 700 bytes of label names")
	}
	AppendIssue(b, nil, &extract.Issue{ID: 2, Labels: []string{}, Assignees: []extract.User{}})
	AppendIssue(b, nil, &extract.Issue{ID: 3, Labels: []string{"bug", strings.Repeat("b", 400), "x\xffy"}})
	b.setInt64Val("id", 4)
	b.setStringList("assignee_ids", []string{"no"}) // wrong setter
	b.setInt64List("labels", []int64{1})            // wrong setter
	b.endRow()
	rec := b.NewRecord()
	defer rec.Release()
	checkRecord(t, schemas.Issues, rec, 4)
	for i, want := range []struct{ labels, assignees any }{
		{[]any{strings.Repeat("a", 700)}, []any{int64(7), int64(8)}},
		{[]any{}, []any{}},
		{[]any{"bug", nil, "x\uFFFDy"}, nil}, // the element that would overflow is null
		{nil, nil},
	} {
		if got := value(t, rec, "labels", i); !reflect.DeepEqual(got, want.labels) {
			t.Errorf("row %d labels = %#v, want %#v", i, got, want.labels)
		}
		if got := value(t, rec, "assignee_ids", i); !reflect.DeepEqual(got, want.assignees) {
			t.Errorf("row %d assignee_ids = %#v, want %#v", i, got, want.assignees)
		}
	}
	err := b.Err()
	for _, want := range []string{"issues.labels: string of 400 bytes would overflow", "issues.assignee_ids: is list<int64>, set as list<string>",
		"issues.labels: is list<string>, set as list<int64>"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Err lacks %q: %v", want, err)
		}
	}
}
