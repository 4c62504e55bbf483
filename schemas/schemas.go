// Package schemas is the single source of truth for labtrail's tables: their
// names, their columns and the Arrow types of those columns. Extractors,
// transformers and loaders all refer to these values, so a column is renamed
// or retyped here and nowhere else.
//
// Columns are only ever appended to a table's schema, never removed, renamed
// or retyped: older Parquet files and older DuckDB files must stay readable
// (readers use union_by_name, the DuckDB loader adds missing columns).
package schemas

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// Kind tells a loader how a table is maintained.
type Kind int

const (
	// Fact tables are append-only event histories: one row per id, never
	// updated once stored, partitioned by created_at month in Parquet.
	Fact Kind = iota
	// Dimension tables hold one row per id with the latest values seen; they
	// are upserted in DuckDB and rewritten whole in Parquet.
	Dimension
	// Bridge tables spell a list column of a dimension out as rows (one per
	// parent and element), for BI tools that cannot read list columns.
	// They are never written directly: see Bridge.
	Bridge
)

// Table describes one warehouse table. Facts and dimensions are keyed by
// the single BIGINT column "id": GitLab ids are unique per server table,
// which is exactly the granularity of each such table. A bridge table has
// no id of its own: its key is (parent id, element), see Bridge and Key.
type Table struct {
	Name   string
	Kind   Kind
	Schema *arrow.Schema
	// Bridge is set on, and only on, tables of Kind Bridge.
	Bridge *BridgeOf
}

// BridgeOf says which list column of which dimension a bridge table spells
// out. A bridge table holds exactly the rows
//
//	SELECT DISTINCT id AS <ParentColumn>, unnest(<List>) AS <ValueColumn> FROM <Parent>
//
// (null elements left out), and loaders keep it so by construction: a
// parent's bridge rows are replaced in the transaction that upserts the
// parent, so an element removed from the list (an unassigned user) loses
// its row, and a null list (GitLab did not send the field) has none.
// Deriving the rows from the stored list rather than sending them
// separately means the two can never disagree.
type BridgeOf struct {
	Parent       string // the dimension table's name
	List         string // its list column
	ParentColumn string // the bridge column holding the parent's id
	ValueColumn  string // the bridge column holding one element
}

// Key returns the columns that identify a row: "id", or for a bridge table
// its parent and value columns.
func (t Table) Key() []string {
	if t.Bridge != nil {
		return []string{t.Bridge.ParentColumn, t.Bridge.ValueColumn}
	}
	return []string{ColID}
}

// Common column names used by loaders and transformers.
const (
	ColID          = "id"
	ColCreatedAt   = "created_at"
	ColExtractedAt = "_extracted_at"
	ColRunID       = "_run_id"
	// PartitionColumn is the hive partition key of fact tables in Parquet,
	// derived from created_at (UTC) as "YYYY-MM". It is not stored inside the
	// files: read_parquet(..., hive_partitioning = true) adds it back.
	PartitionColumn = "created_month"
)

var (
	i64  = arrow.PrimitiveTypes.Int64
	str  = arrow.BinaryTypes.String
	bln  = arrow.FixedWidthTypes.Boolean
	date = arrow.FixedWidthTypes.Date32
	// List columns: BIGINT[] and VARCHAR[] in DuckDB, LIST in Parquet.
	i64s = arrow.ListOf(i64)
	strs = arrow.ListOf(str)
	// Timestamp is a UTC-adjusted microsecond instant: DuckDB reads it as
	// TIMESTAMP WITH TIME ZONE, Parquet writes isAdjustedToUTC = true.
	Timestamp = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

func f(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

func key() arrow.Field { return arrow.Field{Name: ColID, Type: i64, Nullable: false} }

func meta() []arrow.Field {
	return []arrow.Field{
		{Name: ColExtractedAt, Type: Timestamp, Nullable: false},
		{Name: ColRunID, Type: str, Nullable: false},
	}
}

func userCols(prefix string) []arrow.Field {
	return []arrow.Field{
		f(prefix+"_id", i64), f(prefix+"_username", str), f(prefix+"_name", str), f(prefix+"_state", str),
	}
}

func schema(fields ...[]arrow.Field) *arrow.Schema {
	var all []arrow.Field
	for _, fs := range fields {
		all = append(all, fs...)
	}
	all = append(all, meta()...)
	return arrow.NewSchema(all, nil)
}

func cols(fs ...arrow.Field) []arrow.Field { return fs }

// resourceCols are the leading columns of every resource_*_events table.
// group_id is set (and project_id null) for epic events.
func resourceCols() []arrow.Field {
	return cols(key(), f("resource_type", str), f("resource_id", i64), f("resource_iid", i64),
		f("project_id", i64), f("group_id", i64))
}

// workItemCols are appended to the resource-event tables that have epic
// rows: GitLab sends resource_work_item_id on epic events while it moves
// epics onto work items, and the work item id is what an epic will be
// keyed by afterwards, so epic history stays joinable. Null on issue and
// merge request rows.
func workItemCols() []arrow.Field { return cols(f("work_item_id", i64)) }

// Fact tables.
var (
	Events = Table{Name: "events", Kind: Fact, Schema: schema(cols(
		key(), f("project_id", i64), f("action_name", str), f("target_type", str),
		f("target_id", i64), f("target_iid", i64), f("target_title", str),
		f("author_id", i64), f("author_username", str), f("author_name", str),
		f(ColCreatedAt, Timestamp),
		f("push_commit_count", i64), f("push_action", str), f("push_ref_type", str),
		f("push_commit_from", str), f("push_commit_to", str), f("push_ref", str),
		f("push_commit_title", str),
		f("note_id", i64), f("note_body", str), f("note_system", bln),
		f("note_noteable_type", str), f("note_noteable_id", i64), f("note_noteable_iid", i64),
		f("wiki_page_title", str), f("wiki_page_slug", str),
		// Appended later (issue 9). note_internal is what tells an internal
		// (confidential) comment apart; the diff position is the new side's
		// path and line, else the old side's (a removed file or line).
		f("note_internal", bln), f("note_type", str), f("note_position_path", str), f("note_position_line", i64),
		f("note_commit_id", str), f("note_resolvable", bln), f("note_resolved", bln),
		f("imported", bln), f("imported_from", str), f("push_ref_count", i64),
	))}

	LabelEvents = Table{Name: "label_events", Kind: Fact, Schema: schema(resourceCols(), cols(
		f("action", str), f(ColCreatedAt, Timestamp)), userCols("user"), cols(
		f("label_id", i64), f("label_name", str), f("label_color", str), f("label_description", str),
	), workItemCols())}

	StateEvents = Table{Name: "state_events", Kind: Fact, Schema: schema(resourceCols(), cols(
		f("state", str), f("source_commit", str), f("source_merge_request_id", i64),
		f(ColCreatedAt, Timestamp)), userCols("user"), workItemCols())}

	MilestoneEvents = Table{Name: "milestone_events", Kind: Fact, Schema: schema(resourceCols(), cols(
		f("action", str), f(ColCreatedAt, Timestamp)), userCols("user"), cols(
		f("milestone_id", i64), f("milestone_iid", i64), f("milestone_title", str),
		f("milestone_state", str), f("milestone_due_date", date), f("milestone_start_date", date),
		f("milestone_web_url", str),
	))}

	IterationEvents = Table{Name: "iteration_events", Kind: Fact, Schema: schema(resourceCols(), cols(
		f("action", str), f(ColCreatedAt, Timestamp)), userCols("user"), cols(
		f("iteration_id", i64), f("iteration_iid", i64), f("iteration_title", str),
		f("iteration_state", str), f("iteration_start_date", date), f("iteration_due_date", date),
	))}

	WeightEvents = Table{Name: "weight_events", Kind: Fact, Schema: schema(cols(
		key(), f("issue_id", i64), f("resource_iid", i64), f("project_id", i64),
		f("weight", i64), f(ColCreatedAt, Timestamp)), userCols("user"))}

	// AuditEvents are GitLab's audit events (Premium). scope_type and
	// scope_id name the narrowest level whose audit events list the row
	// ('Project' or 'Group' with its id when the entity is one, else
	// 'Instance' and null), so that a row read both from a project and from
	// the instance is the same row. The columns after created_at come from
	// details, which is also kept whole as JSON text: its keys vary by
	// event and GitLab adds new ones.
	AuditEvents = Table{Name: "audit_events", Kind: Fact, Schema: schema(cols(
		key(), f("scope_type", str), f("scope_id", i64), f("entity_type", str), f("entity_id", i64),
		f("entity_path", str), f("author_id", i64), f("author_name", str), f("event_name", str),
		f(ColCreatedAt, Timestamp), f("target_type", str), f("target_id", i64), f("target_details", str),
		f("custom_message", str), f("ip_address", str), f("details", str),
	))}

	// Activity is the history GitLab keeps only as system notes on issues,
	// merge requests and epics (assignees, reviewers, due dates, titles and
	// draft/ready, work-item status, links, moves): no REST endpoint has it
	// as events. action is GitLab's own SystemNoteMetadata action name,
	// parsed from the English body where REST does not send it ('other'
	// when the parser does not know the wording; the body is kept either
	// way). The parsed change:
	//   - assignee/reviewer: target_usernames as written in the body,
	//     target_user_ids their ids (null where the username is unknown),
	//     added_user_ids and removed_user_ids split by direction;
	//   - title, due_date, work_item_status, description: old_value and
	//     new_value (draft/ready are title notes with new_value 'draft' or
	//     'ready' and no old_value; a due date is YYYY-MM-DD);
	//   - relate, relate_to_parent, moved, duplicate, cross_reference:
	//     related_type ('Issue', 'MergeRequest', 'Epic', 'Commit', ...) and
	//     related_ref as GitLab writes it ("#12", "group/project!3").
	// internal is GitLab's internal (confidential) flag: with
	// warehouse.internal_notes: redact, an internal row keeps its action
	// and ids but its body and values are NULL.
	Activity = Table{Name: "activity", Kind: Fact, Schema: schema(resourceCols(), cols(
		f(ColCreatedAt, Timestamp), f("user_id", i64), f("user_username", str),
		f("action", str), f("body", str),
		f("target_user_ids", i64s), f("target_usernames", strs),
		f("added_user_ids", i64s), f("removed_user_ids", i64s),
		f("old_value", str), f("new_value", str), f("related_type", str), f("related_ref", str),
		f("internal", bln),
	), workItemCols())}
)

// Dimension tables.
var (
	Users = Table{Name: "users", Kind: Dimension, Schema: schema(cols(
		key(), f("username", str), f("name", str), f("state", str), f("avatar_url", str), f("web_url", str),
		f("locked", bln)))}

	Labels = Table{Name: "labels", Kind: Dimension, Schema: schema(cols(
		key(), f("name", str), f("color", str), f("description", str),
		f("text_color", str), f("archived", bln)))}

	Milestones = Table{Name: "milestones", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("project_id", i64), f("group_id", i64), f("title", str), f("state", str),
		f("due_date", date), f("start_date", date), f("web_url", str),
		f("description", str), f("expired", bln)))}

	Iterations = Table{Name: "iterations", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("group_id", i64), f("title", str), f("state", str),
		f("start_date", date), f("due_date", date), f("web_url", str)))}

	Projects = Table{Name: "projects", Kind: Dimension, Schema: schema(cols(
		key(), f("path_with_namespace", str), f("name", str), f("namespace_id", i64), f("web_url", str)))}

	// Issues' weight is null where GitLab does not license it (Free);
	// labels are names, as the issue listing sends them.
	Issues = Table{Name: "issues", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("project_id", i64), f("title", str), f("state", str), f("author_id", i64),
		f(ColCreatedAt, Timestamp), f("updated_at", Timestamp), f("closed_at", Timestamp), f("web_url", str),
		f("labels", strs), f("assignee_ids", i64s), f("milestone_id", i64), f("weight", i64),
		f("issue_type", str), f("confidential", bln), f("due_date", date),
		f("time_estimate", i64), f("total_time_spent", i64)))}

	MergeRequests = Table{Name: "merge_requests", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("project_id", i64), f("title", str), f("state", str), f("author_id", i64),
		f(ColCreatedAt, Timestamp), f("updated_at", Timestamp), f("closed_at", Timestamp),
		f("merged_at", Timestamp), f("web_url", str),
		f("draft", bln), f("source_branch", str), f("target_branch", str),
		f("merged_by_id", i64), f("merge_user_id", i64),
		f("reviewer_ids", i64s), f("assignee_ids", i64s), f("labels", strs), f("milestone_id", i64)))}

	Epics = Table{Name: "epics", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("group_id", i64), f("title", str), f("state", str), f("author_id", i64),
		f(ColCreatedAt, Timestamp), f("updated_at", Timestamp), f("closed_at", Timestamp), f("web_url", str),
		f("work_item_id", i64)))}
)

// bridge declares the bridge table name spelling out list column list of
// parent: (parentCol, valueCol) rows, valueCol of the list's element type.
func bridge(name string, parent Table, list, parentCol, valueCol string) Table {
	elem := parent.Schema.Field(parent.Schema.FieldIndices(list)[0]).Type.(*arrow.ListType).Elem()
	return Table{Name: name, Kind: Bridge, Bridge: &BridgeOf{Parent: parent.Name, List: list, ParentColumn: parentCol, ValueColumn: valueCol},
		Schema: schema(cols(
			arrow.Field{Name: parentCol, Type: i64, Nullable: false},
			arrow.Field{Name: valueCol, Type: elem, Nullable: false}))}
}

// Bridge tables.
var (
	IssueAssignees        = bridge("issue_assignees", Issues, "assignee_ids", "issue_id", "user_id")
	IssueLabels           = bridge("issue_labels", Issues, "labels", "issue_id", "label_name")
	MergeRequestAssignees = bridge("merge_request_assignees", MergeRequests, "assignee_ids", "merge_request_id", "user_id")
	MergeRequestReviewers = bridge("merge_request_reviewers", MergeRequests, "reviewer_ids", "merge_request_id", "user_id")
	MergeRequestLabels    = bridge("merge_request_labels", MergeRequests, "labels", "merge_request_id", "label_name")
)

// All lists every table in a stable order: facts first, then dimensions,
// then bridges.
func All() []Table {
	return []Table{
		Events, LabelEvents, StateEvents, MilestoneEvents, IterationEvents, WeightEvents, AuditEvents, Activity,
		Users, Labels, Milestones, Iterations, Projects, Issues, MergeRequests, Epics,
		IssueAssignees, IssueLabels, MergeRequestAssignees, MergeRequestReviewers, MergeRequestLabels,
	}
}

// BridgesOf lists the bridge tables of dimension table parent.
func BridgesOf(parent Table) []Table {
	var out []Table
	for _, t := range All() {
		if t.Bridge != nil && t.Bridge.Parent == parent.Name {
			out = append(out, t)
		}
	}
	return out
}

// Facts lists the fact tables.
func Facts() []Table {
	var out []Table
	for _, t := range All() {
		if t.Kind == Fact {
			out = append(out, t)
		}
	}
	return out
}

// ByName returns the table called name.
func ByName(name string) (Table, error) {
	for _, t := range All() {
		if t.Name == name {
			return t, nil
		}
	}
	return Table{}, fmt.Errorf("schemas: no table %q", name)
}
