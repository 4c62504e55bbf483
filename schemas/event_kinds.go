package schemas

import (
	"fmt"
	"slices"
	"strings"
)

// EventKind is one kind of instant in an item's life that a value-stream
// stage can start or end at (`start: mr_created`, `end:
// label_removed:workflow::review`). The vocabulary is declared once, in
// EventKinds: config validation, the stage_durations view and the README's
// vocabulary table are all derived from it, so a kind cannot be accepted by
// validate yet unknown to the view, or documented but missing.
type EventKind struct {
	Name string
	// Arg names the argument the kind needs after a colon
	// (label_added:<label name>); empty for kinds that take none.
	Arg string
	// Resources are the resource types its rows can have: a stage whose
	// start and end share none can never pair.
	Resources []ParentKind
	// Doc says what the instant is, for the README.
	Doc string
	// sql selects (resource_type, resource_id, resource_iid, project_id,
	// group_id, at), one row per instant; {arg} stands for the argument as
	// an SQL string literal.
	sql string
}

var (
	issueOnly  = []ParentKind{ParentIssue}
	mrOnly     = []ParentKind{ParentMergeRequest}
	epicOnly   = []ParentKind{ParentEpic}
	issueOrMR  = []ParentKind{ParentIssue, ParentMergeRequest}
	issueEpic  = []ParentKind{ParentIssue, ParentEpic}
	allParents = []ParentKind{ParentIssue, ParentMergeRequest, ParentEpic}
)

// eventCols are the columns every kind's SQL selects, in order.
const eventCols = "resource_type, resource_id, resource_iid, project_id, group_id, event_at"

// created is the creation of the parents in table, read from the dimension
// (GitLab records no event for it).
func created(kind ParentKind) string {
	t := kind.Table()
	owner := "project_id, NULL::BIGINT"
	if kind == ParentEpic {
		owner = "NULL::BIGINT, group_id"
	}
	return fmt.Sprintf("SELECT '%s', id, iid, %s, created_at FROM %s", kind, owner, t.Name)
}

// resourceEvent selects the rows of a resource_*_events table (or activity)
// matching where.
func resourceEvent(table, where string) string {
	return "SELECT resource_type, resource_id, resource_iid, project_id, group_id, created_at FROM " + table + " WHERE " + where
}

func state(kind ParentKind, st string) string {
	return resourceEvent("state_events", fmt.Sprintf("resource_type = '%s' AND state = '%s'", kind, st))
}

// label matches label events by the label's current name where the labels
// table has it (a renamed label keeps its history), else the name the
// event carried, as label_intervals does.
func label(action string) string {
	return "SELECT e.resource_type, e.resource_id, e.resource_iid, e.project_id, e.group_id, e.created_at " +
		"FROM label_events e LEFT JOIN labels l ON l.id = e.label_id " +
		"WHERE e.action = '" + action + "' AND coalesce(l.name, e.label_name) = {arg}"
}

// first keeps, per resource, the earliest row of sql.
func first(sql string) string {
	return "SELECT resource_type, resource_id, min(resource_iid), min(project_id), min(group_id), min(event_at) FROM (" +
		sql + ") AS f(" + eventCols + ") GROUP BY resource_type, resource_id"
}

const (
	assignedSQL        = "action = 'assignee' AND len(added_user_ids) > 0"
	reviewRequestedSQL = "action = 'reviewer' AND len(added_user_ids) > 0"
)

// EventKinds is the vocabulary, in the README's order.
func EventKinds() []EventKind {
	return []EventKind{
		{Name: "issue_created", Resources: issueOnly, Doc: "the issue's `created_at`", sql: created(ParentIssue)},
		{Name: "issue_closed", Resources: issueOnly, Doc: "each `closed` state event of an issue", sql: state(ParentIssue, "closed")},
		{Name: "issue_reopened", Resources: issueOnly, Doc: "each `reopened` state event of an issue", sql: state(ParentIssue, "reopened")},
		{Name: "mr_created", Resources: mrOnly, Doc: "the merge request's `created_at`", sql: created(ParentMergeRequest)},
		{Name: "mr_merged", Resources: mrOnly, Doc: "the `merged` state event of a merge request", sql: state(ParentMergeRequest, "merged")},
		{Name: "mr_closed", Resources: mrOnly, Doc: "each `closed` state event of a merge request", sql: state(ParentMergeRequest, "closed")},
		{Name: "mr_reopened", Resources: mrOnly, Doc: "each `reopened` state event of a merge request", sql: state(ParentMergeRequest, "reopened")},
		{Name: "epic_created", Resources: epicOnly, Doc: "the epic's `created_at`", sql: created(ParentEpic)},
		{Name: "epic_closed", Resources: epicOnly, Doc: "each `closed` state event of an epic", sql: state(ParentEpic, "closed")},
		{Name: "epic_reopened", Resources: epicOnly, Doc: "each `reopened` state event of an epic", sql: state(ParentEpic, "reopened")},
		{Name: "label_added", Arg: "label name", Resources: allParents, Doc: "each `add` label event of that label (its current name)", sql: label("add")},
		{Name: "label_removed", Arg: "label name", Resources: allParents, Doc: "each `remove` label event of that label", sql: label("remove")},
		{Name: "milestone_added", Resources: issueOrMR, Doc: "each `add` milestone event (any milestone)", sql: resourceEvent("milestone_events", "action = 'add'")},
		{Name: "milestone_removed", Resources: issueOrMR, Doc: "each `remove` milestone event", sql: resourceEvent("milestone_events", "action = 'remove'")},
		{Name: "iteration_added", Resources: issueOnly, Doc: "each `add` iteration event (any iteration)", sql: resourceEvent("iteration_events", "action = 'add'")},
		{Name: "iteration_removed", Resources: issueOnly, Doc: "each `remove` iteration event", sql: resourceEvent("iteration_events", "action = 'remove'")},
		{Name: "weight_changed", Resources: issueOnly, Doc: "each weight event",
			sql: "SELECT 'Issue', issue_id, resource_iid, project_id, NULL::BIGINT, created_at FROM weight_events"},
		{Name: "assigned", Resources: issueOrMR, Doc: "each `activity` assignee note that adds someone", sql: resourceEvent("activity", assignedSQL)},
		{Name: "unassigned", Resources: issueOrMR, Doc: "each `activity` assignee note that removes someone",
			sql: resourceEvent("activity", "action = 'assignee' AND len(removed_user_ids) > 0")},
		{Name: "first_assigned", Resources: issueOrMR, Doc: "the first `assigned` (recorded notes only, not `inferred` spans)",
			sql: first(resourceEvent("activity", assignedSQL))},
		{Name: "review_requested", Resources: mrOnly, Doc: "each `activity` reviewer note that adds a reviewer", sql: resourceEvent("activity", reviewRequestedSQL)},
		{Name: "review_request_removed", Resources: mrOnly, Doc: "each `activity` reviewer note that removes a reviewer",
			sql: resourceEvent("activity", "action = 'reviewer' AND len(removed_user_ids) > 0")},
		{Name: "first_review_requested", Resources: mrOnly, Doc: "the first `review_requested`", sql: first(resourceEvent("activity", reviewRequestedSQL))},
		{Name: "approved", Resources: mrOnly, Doc: "each `approved` event of the Events API on a merge request",
			sql: "SELECT 'MergeRequest', target_id, target_iid, project_id, NULL::BIGINT, created_at FROM events WHERE action_name = 'approved' AND target_type = 'MergeRequest'"},
		{Name: "commented", Resources: issueOrMR, Doc: "each comment (not a system note) in the Events API",
			sql: commentedSQL},
		{Name: "first_commented", Resources: issueOrMR, Doc: "the first `commented`", sql: first(commentedSQL)},
		{Name: "marked_draft", Resources: mrOnly, Doc: "each `activity` title note marking the merge request draft",
			sql: resourceEvent("activity", "action = 'title' AND new_value = 'draft'")},
		{Name: "marked_ready", Resources: mrOnly, Doc: "each `activity` title note marking it ready",
			sql: resourceEvent("activity", "action = 'title' AND new_value = 'ready'")},
		{Name: "status_set", Arg: "status name", Resources: issueEpic, Doc: "each `activity` work-item status note setting that status",
			sql: resourceEvent("activity", "action = 'work_item_status' AND new_value = {arg}")},
		{Name: "due_date_changed", Resources: issueEpic, Doc: "each `activity` due-date note", sql: resourceEvent("activity", "action = 'due_date'")},
	}
}

const commentedSQL = "SELECT note_noteable_type, note_noteable_id, note_noteable_iid, project_id, NULL::BIGINT, created_at FROM events " +
	"WHERE action_name = 'commented on' AND note_system IS NOT TRUE AND note_noteable_type IN ('Issue', 'MergeRequest')"

// EventKindByName returns the kind called name.
func EventKindByName(name string) (EventKind, bool) {
	i := slices.IndexFunc(EventKinds(), func(k EventKind) bool { return k.Name == name })
	if i < 0 {
		return EventKind{}, false
	}
	return EventKinds()[i], true
}

// Usage is the kind as written in a config: its name, with :<argument>
// when it takes one.
func (k EventKind) Usage() string {
	if k.Arg == "" {
		return k.Name
	}
	return k.Name + ":<" + k.Arg + ">"
}

// EventKindUsages lists every kind's Usage, for error messages.
func EventKindUsages() []string {
	var out []string
	for _, k := range EventKinds() {
		out = append(out, k.Usage())
	}
	return out
}

// EventRef is a kind with its argument, as a stage's start or end names
// it: "label_added:workflow::review" is {label_added, workflow::review}.
type EventRef struct {
	Kind string
	Arg  string
}

// ParseEventRef splits s at its first colon (label names may hold more).
// It does not check the kind: see EventRef.Check.
func ParseEventRef(s string) EventRef {
	kind, arg, _ := strings.Cut(s, ":")
	return EventRef{Kind: kind, Arg: arg}
}

func (r EventRef) String() string {
	if r.Arg == "" {
		return r.Kind
	}
	return r.Kind + ":" + r.Arg
}

// SQL selects the instants r names: (resource_type, resource_id,
// resource_iid, project_id, group_id, at). r must be a known kind.
func (r EventRef) SQL() string {
	k, _ := EventKindByName(r.Kind)
	return "SELECT * FROM (" + strings.ReplaceAll(k.sql, "{arg}", QuoteLiteral(r.Arg)) + ") AS ev(" + eventCols + ") WHERE event_at IS NOT NULL"
}

// QuoteLiteral quotes s as an SQL string literal. Stage definitions and
// label prefixes come from the config file and are spliced into view
// definitions (a view cannot take parameters), so every such value goes
// through here.
func QuoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Repeats says how a stage that occurs more than once on one item is
// counted.
type Repeats string

const (
	// RepeatsSeparate gives one row per occurrence (the default).
	RepeatsSeparate Repeats = "separate"
	// RepeatsSum gives one row per item, its duration the sum of the
	// occurrences'.
	RepeatsSum Repeats = "sum"
)

// Stage is a value-stream stage: from each start instant to the first end
// instant at or after it, per item. Stages are warehouse-wide (the
// stage_durations view has no notion of which pipeline read an item).
type Stage struct {
	Name       string
	Start, End EventRef
	Repeats    Repeats
}

// Resources are the resource types a stage can apply to: those both its
// start and its end can have.
func (s Stage) Resources() []ParentKind {
	a, _ := EventKindByName(s.Start.Kind)
	b, _ := EventKindByName(s.End.Kind)
	var out []ParentKind
	for _, p := range a.Resources {
		if slices.Contains(b.Resources, p) {
			out = append(out, p)
		}
	}
	return out
}

// EventKindTable renders the vocabulary as the README's Markdown table.
func EventKindTable() string {
	var b strings.Builder
	b.WriteString("| kind | applies to | instant |\n| --- | --- | --- |\n")
	for _, k := range EventKinds() {
		var res []string
		for _, p := range k.Resources {
			res = append(res, string(p))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Usage(), strings.Join(res, ", "), k.Doc)
	}
	return b.String()
}
