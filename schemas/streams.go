package schemas

import (
	"fmt"
	"strconv"
	"strings"
)

// ScopeKind is what a pipeline reads streams for. Its string is the first
// half of a scope key ("project:42"), as stored in watermarks, availability
// rows and run records.
type ScopeKind string

const (
	ScopeProject     ScopeKind = "project"
	ScopeGroup       ScopeKind = "group"
	ScopeUser        ScopeKind = "user"
	ScopeCurrentUser ScopeKind = "current_user" // the token's own user; one per pipeline, no id
	ScopeInstance    ScopeKind = "instance"     // the whole GitLab instance (audit events); no id
)

// Key is the scope key of the scope of this kind with this id: the one
// place "kind:id" is spelled, because watermarks written by earlier runs
// are found again only by the same spelling.
func (k ScopeKind) Key(id int64) string {
	if k == ScopeCurrentUser || k == ScopeInstance {
		return string(k)
	}
	return string(k) + ":" + strconv.FormatInt(id, 10)
}

// ParentKind is a kind of GitLab object whose resource events labtrail
// reads: it is listed by updated_at, stored in its own dimension table,
// and each listed parent's event families are then paged one by one.
type ParentKind string

const (
	ParentIssue        ParentKind = "Issue"
	ParentMergeRequest ParentKind = "MergeRequest"
	ParentEpic         ParentKind = "Epic"
)

// ParentKinds lists the parent kinds in planning order.
func ParentKinds() []ParentKind { return []ParentKind{ParentIssue, ParentMergeRequest, ParentEpic} }

// Table is the dimension table a listed parent is stored in. Its name also
// prefixes the parent's watermarks ("issues/label_events").
func (k ParentKind) Table() Table {
	switch k {
	case ParentIssue:
		return Issues
	case ParentMergeRequest:
		return MergeRequests
	default:
		return Epics
	}
}

// Scope is the kind of scope a parent is listed under.
func (k ParentKind) Scope() ScopeKind {
	if k == ParentEpic {
		return ScopeGroup
	}
	return ScopeProject
}

// Premium reports whether the parent kind exists only on GitLab Premium:
// on Free, its listing and every family under it answer 403 or 404.
func (k ParentKind) Premium() bool { return k == ParentEpic }

// Stream is one family of rows a pipeline can export, declared once here:
// config validation, the planner, progress and the README's stream table
// all read these values.
type Stream struct {
	// Table receives the stream's rows; its name is the stream's name in
	// pipelines.yaml and in watermark keys.
	Table Table
	// Family is the resource-event family ("label" for
	// resource_label_events); empty for the streams that are not one.
	Family string
	// Route is the path segment read under each parent by a per-parent
	// stream that is not a resource-event family ("notes" for activity):
	// such a stream is scheduled like the families, for the same changed
	// parents, so it costs no extra listing.
	Route string
	// Parents are the parent kinds whose resource events make up the
	// stream; nil for the streams read per scope instead.
	Parents []ParentKind
	// Paths are the routes of a stream read per scope (the Events API,
	// audit events); a resource-event stream's follow from Family and
	// Parents.
	Paths []string
	// Premium: GitLab answers 403/404 where the stream is not licensed,
	// which skips it (remembered as unavailable) instead of failing.
	Premium bool
	// OptIn keeps the stream out of the default stream set: a pipeline
	// reads it only when it asks for it (by name in streams:, or by the
	// stream's own key), because it needs a role most tokens lack and
	// costs requests on every scope even where it is empty.
	OptIn bool
	// Incremental says, for the README, how a later run avoids re-reading.
	Incremental string
}

// Name is the stream's name in pipelines.yaml.
func (s Stream) Name() string { return s.Table.Name }

// Optional reports whether a 403/404 on this stream for parent kind p
// means "not licensed here" rather than a failure of the scope.
func (s Stream) Optional(p ParentKind) bool { return s.Premium || p.Premium() }

// Sub is the path segment read under each parent: Route, else the
// family's resource_<family>_events.
func (s Stream) Sub() string {
	if s.Route != "" {
		return s.Route
	}
	return "resource_" + s.Family + "_events"
}

// Reads reports whether the stream has parent kind p.
func (s Stream) Reads(p ParentKind) bool {
	for _, q := range s.Parents {
		if q == p {
			return true
		}
	}
	return false
}

const changedParents = "only parents whose `updated_at` moved since the watermark (less `overlap`)"

// The streams.
var (
	EventsStream = Stream{Table: Events, Paths: []string{"/projects/:id/events", "/users/:id/events", "/events"},
		Incremental: "`after=` (date) from the watermark's day minus 2 days, de-duplicated by id"}
	LabelEventsStream = Stream{Table: LabelEvents, Family: "label",
		Parents: []ParentKind{ParentIssue, ParentMergeRequest, ParentEpic}, Incremental: changedParents}
	StateEventsStream = Stream{Table: StateEvents, Family: "state",
		Parents: []ParentKind{ParentIssue, ParentMergeRequest, ParentEpic}, Incremental: changedParents}
	MilestoneEventsStream = Stream{Table: MilestoneEvents, Family: "milestone",
		Parents: []ParentKind{ParentIssue, ParentMergeRequest}, Incremental: changedParents}
	IterationEventsStream = Stream{Table: IterationEvents, Family: "iteration", Premium: true,
		Parents: []ParentKind{ParentIssue}, Incremental: changedParents}
	WeightEventsStream = Stream{Table: WeightEvents, Family: "weight", Premium: true,
		Parents: []ParentKind{ParentIssue}, Incremental: changedParents}
	// ActivityStream is read from the parents' notes: GitLab keeps
	// assignee, reviewer, due-date, title, draft, link and status history
	// only as system notes. It also looks up usernames those notes name
	// that no stored or listed user has (GET /users?username=).
	ActivityStream = Stream{Table: Activity, Route: "notes",
		Parents:     []ParentKind{ParentIssue, ParentMergeRequest, ParentEpic},
		Incremental: changedParents + "; system notes only, de-duplicated by id"}
	AuditEventsStream = Stream{Table: AuditEvents, Premium: true, OptIn: true,
		Paths:       []string{"/projects/:id/audit_events", "/groups/:id/audit_events", "/audit_events"},
		Incremental: "`created_after=` (instant, inclusive) from the watermark, in windows of at most 30 days, keyset pages; de-duplicated by id"}
)

// Streams lists every stream in table order.
func Streams() []Stream {
	return []Stream{EventsStream, LabelEventsStream, StateEventsStream, MilestoneEventsStream,
		IterationEventsStream, WeightEventsStream, ActivityStream, AuditEventsStream}
}

// DefaultStreamNames lists the names of the streams a pipeline reads when
// it does not list its streams: every stream but the opt-in ones.
func DefaultStreamNames() []string {
	var out []string
	for _, s := range Streams() {
		if !s.OptIn {
			out = append(out, s.Name())
		}
	}
	return out
}

// StreamNames lists the streams' names, in table order.
func StreamNames() []string {
	var out []string
	for _, s := range Streams() {
		out = append(out, s.Name())
	}
	return out
}

// StreamByName returns the stream called name.
func StreamByName(name string) (Stream, bool) {
	for _, s := range Streams() {
		if s.Name() == name {
			return s, true
		}
	}
	return Stream{}, false
}

// Endpoints lists the GitLab routes a stream reads, for documentation.
func (s Stream) Endpoints() []string {
	if len(s.Parents) == 0 {
		return s.Paths
	}
	var out []string
	for _, p := range s.Parents {
		switch p {
		case ParentIssue:
			out = append(out, "/projects/:id/issues/:iid/"+s.Sub())
		case ParentMergeRequest:
			out = append(out, "/projects/:id/merge_requests/:iid/"+s.Sub())
		case ParentEpic:
			out = append(out, "/groups/:id/epics/:epic_id/"+s.Sub())
		}
	}
	return out
}

// StreamTable renders the README's stream table from the streams.
func StreamTable() string {
	var b strings.Builder
	b.WriteString("| stream | endpoints | Premium | incremental by |\n| --- | --- | --- | --- |\n")
	for _, s := range Streams() {
		premium := "no"
		switch {
		case s.Premium:
			premium = "yes"
		case s.Reads(ParentEpic):
			premium = "epics only"
		}
		name := "`" + s.Name() + "`"
		if s.OptIn {
			name += " (opt-in)"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", name, strings.Join(s.Endpoints(), "`, `"), premium, s.Incremental)
	}
	return b.String()
}
