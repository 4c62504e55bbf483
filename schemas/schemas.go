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
)

// Table describes one warehouse table. Key is always the single BIGINT
// column "id": GitLab ids are unique per server table, which is exactly the
// granularity of each labtrail table.
type Table struct {
	Name   string
	Kind   Kind
	Schema *arrow.Schema
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
	))}

	LabelEvents = Table{Name: "label_events", Kind: Fact, Schema: schema(resourceCols(), cols(
		f("action", str), f(ColCreatedAt, Timestamp)), userCols("user"), cols(
		f("label_id", i64), f("label_name", str), f("label_color", str), f("label_description", str),
	))}

	StateEvents = Table{Name: "state_events", Kind: Fact, Schema: schema(resourceCols(), cols(
		f("state", str), f("source_commit", str), f("source_merge_request_id", i64),
		f(ColCreatedAt, Timestamp)), userCols("user"))}

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
)

// Dimension tables.
var (
	Users = Table{Name: "users", Kind: Dimension, Schema: schema(cols(
		key(), f("username", str), f("name", str), f("state", str), f("avatar_url", str), f("web_url", str)))}

	Labels = Table{Name: "labels", Kind: Dimension, Schema: schema(cols(
		key(), f("name", str), f("color", str), f("description", str)))}

	Milestones = Table{Name: "milestones", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("project_id", i64), f("group_id", i64), f("title", str), f("state", str),
		f("due_date", date), f("start_date", date), f("web_url", str)))}

	Iterations = Table{Name: "iterations", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("group_id", i64), f("title", str), f("state", str),
		f("start_date", date), f("due_date", date), f("web_url", str)))}

	Projects = Table{Name: "projects", Kind: Dimension, Schema: schema(cols(
		key(), f("path_with_namespace", str), f("name", str), f("namespace_id", i64), f("web_url", str)))}

	Issues = Table{Name: "issues", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("project_id", i64), f("title", str), f("state", str), f("author_id", i64),
		f(ColCreatedAt, Timestamp), f("updated_at", Timestamp), f("closed_at", Timestamp), f("web_url", str)))}

	MergeRequests = Table{Name: "merge_requests", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("project_id", i64), f("title", str), f("state", str), f("author_id", i64),
		f(ColCreatedAt, Timestamp), f("updated_at", Timestamp), f("closed_at", Timestamp),
		f("merged_at", Timestamp), f("web_url", str)))}

	Epics = Table{Name: "epics", Kind: Dimension, Schema: schema(cols(
		key(), f("iid", i64), f("group_id", i64), f("title", str), f("state", str), f("author_id", i64),
		f(ColCreatedAt, Timestamp), f("updated_at", Timestamp), f("closed_at", Timestamp), f("web_url", str)))}
)

// All lists every table in a stable order: facts first, then dimensions.
func All() []Table {
	return []Table{
		Events, LabelEvents, StateEvents, MilestoneEvents, IterationEvents, WeightEvents, AuditEvents,
		Users, Labels, Milestones, Iterations, Projects, Issues, MergeRequests, Epics,
	}
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
