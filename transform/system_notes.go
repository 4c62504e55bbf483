package transform

import (
	"regexp"
	"strings"
	"time"
)

// GitLab's REST notes carry a system note's meaning only in its English
// body (GraphQL has systemNoteMetadata.action, REST does not). The rules
// below read the bodies GitLab's app/services/system_notes/*_service.rb
// write, and name each change with GitLab's own SystemNoteMetadata action,
// so that rows from a future GraphQL reader would agree. A body no rule
// knows is action "other": stored with its body, and counted, so that a
// wording GitLab changes shows up as a number instead of as lost history.

// ActionOther is the action of a system note no rule recognises.
const ActionOther = "other"

// SystemNote is what a system note's body says changed.
type SystemNote struct {
	Action string
	// Usernames are the users the note names (without '@'), in body
	// order: added ones, then removed ones.
	Usernames []string
	// Added and Removed split Usernames by direction (assignee, reviewer).
	Added, Removed []string
	// Old and New are the values of a title, due date (YYYY-MM-DD),
	// status or draft ('draft', 'ready') change; nil where the body does
	// not say.
	Old, New *string
	// RelatedType ('Issue', 'MergeRequest', 'Epic', 'Commit', ...) and
	// RelatedRef (as written: "#12", "group/project!3") name the other
	// object of a link, move, duplicate or cross-reference.
	RelatedType, RelatedRef string
}

// noteRule recognises one wording: parse fills n and reports whether body
// is that wording.
type noteRule struct {
	action string
	parse  func(body string, n *SystemNote) bool
}

// ParseSystemNote reads a system note's body. Unknown wording gives
// Action == ActionOther and nothing else.
func ParseSystemNote(body string) SystemNote {
	body = strings.TrimSpace(body)
	for _, r := range noteRules {
		var n SystemNote
		if r.parse(body, &n) {
			n.Action = r.action
			return n
		}
	}
	return SystemNote{Action: ActionOther}
}

// noteRules are tried in order; the first that recognises a body wins.
// They are a table (not a switch) so that a wording is added in one line
// and tested by one row of system_notes_test.go.
var noteRules = []noteRule{
	{"assignee", userChange("assigned to ", "unassigned ")},
	{"reviewer", userChange("requested review from ", "removed review request for ")},
	{"review_request", users("requested a new review from ")},
	{"due_date", dueDate},
	{"title", draft},
	{"title", title},
	{"description", exact("changed the description")},
	{"work_item_status", status},
	{"relate", ref("marked this issue as related to ", "marked this merge request as related to ", "marked this epic as related to ")},
	{"unrelate", ref("removed the relation with ")},
	{"relate_to_parent", suffixRef("added ", " as parent issue", " as parent epic", " as parent item")},
	{"unrelate_from_parent", ref("removed parent issue ", "removed parent epic ", "removed parent item ")},
	{"moved", ref("moved to ", "moved from ")},
	{"duplicate", ref("marked this issue as a duplicate of ")},
	{"duplicated", suffixRef("marked ", " as a duplicate of this issue")},
	{"cross_reference", crossReference},
	{"closed", ref("closed via merge request ", "closed via commit ", "closed via ")},
	{"closed", exact("closed")},
	{"reopened", exact("reopened")},
	{"merged", exact("merged")},
	{"opened", exact("opened")},
	{"approved", exact("approved this merge request")},
	{"unapproved", exact("unapproved this merge request")},
	{"requested_changes", exact("requested changes")},
	{"milestone", prefix("changed milestone to ", "removed milestone")},
	{"label", labels},
	{"time_tracking", timeTracking},
	{"confidential", exact("made the issue confidential", "made the issue visible to everyone")},
	{"locked", prefix("locked the discussion in this ", "locked this ")},
	{"unlocked", prefix("unlocked the discussion in this ", "unlocked this ")},
	{"commit", commits},
}

// exact matches one of the bodies given.
func exact(bodies ...string) func(string, *SystemNote) bool {
	return func(b string, _ *SystemNote) bool {
		for _, s := range bodies {
			if b == s {
				return true
			}
		}
		return false
	}
}

// prefix matches a body starting with one of ps; it reads no value.
func prefix(ps ...string) func(string, *SystemNote) bool {
	return func(b string, _ *SystemNote) bool {
		for _, p := range ps {
			if strings.HasPrefix(b, p) {
				return true
			}
		}
		return false
	}
}

// usernameList parses GitLab's to_sentence of user references: "@a",
// "@a and @b", "@a, @b and @c" or "@a, @b, and @c". Anything else (a word
// that is not a reference) fails.
func usernameList(s string) ([]string, bool) {
	s = strings.ReplaceAll(s, ", and ", ", ")
	s = strings.ReplaceAll(s, " and ", ", ")
	var out []string
	for _, part := range strings.Split(s, ", ") {
		if !usernameRe.MatchString(part) {
			return nil, false
		}
		out = append(out, part[1:])
	}
	return out, len(out) > 0
}

var usernameRe = regexp.MustCompile(`^@[A-Za-z0-9_][A-Za-z0-9_.\-]*$`)

// userChange reads "<add>@a, @b", "<remove>@c" and "<add>@a and <remove>@c"
// (IssuablesService#change_issuable_assignees / _reviewers).
func userChange(add, remove string) func(string, *SystemNote) bool {
	return func(b string, n *SystemNote) bool {
		var addPart, remPart string
		switch {
		case strings.HasPrefix(b, add):
			addPart = b[len(add):]
			if i := strings.Index(addPart, " and "+remove); i >= 0 {
				addPart, remPart = addPart[:i], addPart[i+len(" and "+remove):]
			}
		case strings.HasPrefix(b, remove):
			remPart = b[len(remove):]
		default:
			return false
		}
		var ok bool
		if addPart != "" {
			if n.Added, ok = usernameList(addPart); !ok {
				return false
			}
		}
		if remPart != "" {
			if n.Removed, ok = usernameList(remPart); !ok {
				return false
			}
		}
		n.Usernames = append(append([]string{}, n.Added...), n.Removed...)
		return true
	}
}

// users reads "<p>@a, @b" as users added.
func users(p string) func(string, *SystemNote) bool {
	return func(b string, n *SystemNote) bool {
		if !strings.HasPrefix(b, p) {
			return false
		}
		var ok bool
		if n.Added, ok = usernameList(b[len(p):]); !ok {
			return false
		}
		n.Usernames = append([]string{}, n.Added...)
		return true
	}
}

// dueDate reads "changed due date to December 12, 2025" and "removed due
// date" (TimeTrackingService#change_due_date).
func dueDate(b string, n *SystemNote) bool {
	if b == "removed due date" {
		return true
	}
	const p = "changed due date to "
	if !strings.HasPrefix(b, p) {
		return false
	}
	t, err := time.Parse("January 2, 2006", b[len(p):])
	if err != nil {
		return false
	}
	v := t.Format(time.DateOnly)
	n.New = &v
	return true
}

// draft reads "marked this merge request as **draft**" / "**ready**", and
// GitLab before 14's "marked as a **Work In Progress**" / "unmarked as a
// **Work In Progress**": GitLab records them as title notes.
func draft(b string, n *SystemNote) bool {
	var v string
	switch b {
	case "marked this merge request as **draft**", "marked as a **Work In Progress**":
		v = "draft"
	case "marked this merge request as **ready**", "unmarked as a **Work In Progress**":
		v = "ready"
	default:
		return false
	}
	n.New = &v
	return true
}

var titleRe = regexp.MustCompile(`(?s)^changed title from \*\*(.*)\*\* to \*\*(.*)\*\*$`)

// inlineDiff matches GitLab's inline diff markers: {+added+} and [-removed-].
var (
	addedRe   = regexp.MustCompile(`(?s)\{\+(.*?)\+\}`)
	removedRe = regexp.MustCompile(`(?s)\[-(.*?)-\]`)
)

// title reads "changed title from **Old** to **New**", where both sides
// carry inline diff markers: the old title is the text with additions
// dropped and removals kept, the new one the reverse.
func title(b string, n *SystemNote) bool {
	m := titleRe.FindStringSubmatch(b)
	if m == nil {
		return false
	}
	oldV := removedRe.ReplaceAllString(addedRe.ReplaceAllString(m[1], ""), "$1")
	newV := addedRe.ReplaceAllString(removedRe.ReplaceAllString(m[2], ""), "$1")
	n.Old, n.New = &oldV, &newV
	return true
}

var statusRe = regexp.MustCompile(`^set status to \*\*(.+)\*\*$`)

// status reads a work item status change: "set status to **In progress**".
func status(b string, n *SystemNote) bool {
	m := statusRe.FindStringSubmatch(b)
	if m == nil {
		return false
	}
	n.New = &m[1]
	return true
}

// ref reads "<p><reference>" for one of ps: a single GitLab reference
// ("#12", "group/project!3", "&4", a commit SHA).
func ref(ps ...string) func(string, *SystemNote) bool {
	return func(b string, n *SystemNote) bool {
		for _, p := range ps {
			if strings.HasPrefix(b, p) {
				return setRef(n, b[len(p):])
			}
		}
		return false
	}
}

// suffixRef reads "<p><reference><suffix>" for one of suffixes.
func suffixRef(p string, suffixes ...string) func(string, *SystemNote) bool {
	return func(b string, n *SystemNote) bool {
		if !strings.HasPrefix(b, p) {
			return false
		}
		for _, s := range suffixes {
			if strings.HasSuffix(b, s) {
				return setRef(n, b[len(p):len(b)-len(s)])
			}
		}
		return false
	}
}

var (
	issuableRefRe = regexp.MustCompile(`^(?:[A-Za-z0-9_.\-/]+)?([#!&])\d+$`)
	commitRefRe   = regexp.MustCompile(`^(?:[A-Za-z0-9_.\-/]+@)?[0-9a-f]{7,40}$`)
	refTypes      = map[string]string{"#": "Issue", "!": "MergeRequest", "&": "Epic"}
)

// setRef sets the related object from a reference, false if r is none.
func setRef(n *SystemNote, r string) bool {
	switch {
	case issuableRefRe.MatchString(r):
		n.RelatedType = refTypes[issuableRefRe.FindStringSubmatch(r)[1]]
	case commitRefRe.MatchString(r):
		n.RelatedType = "Commit"
	default:
		return false
	}
	n.RelatedRef = r
	return true
}

// crossReference reads "mentioned in issue #12", "mentioned in merge
// request group/project!3", "mentioned in epic &4", "mentioned in commit
// 1a2b3c4d" (IssuablesService#cross_reference).
func crossReference(b string, n *SystemNote) bool {
	const p = "mentioned in "
	if !strings.HasPrefix(b, p) {
		return false
	}
	rest := b[len(p):]
	for _, kind := range []string{"issue ", "merge request ", "epic ", "commit ", "task ", "incident "} {
		if strings.HasPrefix(rest, kind) {
			return setRef(n, rest[len(kind):])
		}
	}
	return setRef(n, rest)
}

var labelsRe = regexp.MustCompile(`^(?:added|removed) ~\S+.* labels?(?: and removed ~\S+.* labels?)?$`)

// labels reads "added ~1 ~2 labels", "removed ~3 label" and "added ~1
// label and removed ~3 label" (LabelsService).
func labels(b string, _ *SystemNote) bool { return labelsRe.MatchString(b) }

var commitsRe = regexp.MustCompile(`(?s)^added \d+ (?:new )?commits?\b`)

// commits reads "added 3 commits" and its list (CommitService).
func commits(b string, _ *SystemNote) bool { return commitsRe.MatchString(b) }

var timeSpentRe = regexp.MustCompile(`^(?:added|subtracted|deleted) .+ of (?:time spent|spent time)\b`)

// timeTracking reads "changed time estimate to 1h", "removed time
// estimate", "added 2h 30m of time spent" and "removed time spent"
// (TimeTrackingService).
func timeTracking(b string, n *SystemNote) bool {
	return prefix("changed time estimate to ", "removed time estimate", "removed time spent")(b, n) || timeSpentRe.MatchString(b)
}
