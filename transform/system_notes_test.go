package transform

import (
	"slices"
	"testing"
)

// The bodies are GitLab's own wording (app/services/system_notes/*.rb and
// the API notes): each row is one body and what the parser must read.
func TestParseSystemNote(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		body            string
		action          string
		added, removed  []string
		old, new        *string
		relType, relRef string
	}{
		{body: "assigned to @alice", action: "assignee", added: []string{"alice"}},
		{body: "assigned to @alice and unassigned @bob", action: "assignee", added: []string{"alice"}, removed: []string{"bob"}},
		{body: "unassigned @bob", action: "assignee", removed: []string{"bob"}},
		{body: "assigned to @a, @b and @c", action: "assignee", added: []string{"a", "b", "c"}},
		{body: "assigned to @a, @b, and @c", action: "assignee", added: []string{"a", "b", "c"}},
		{body: "assigned to @a.b-c_d and unassigned @e and @f", action: "assignee", added: []string{"a.b-c_d"}, removed: []string{"e", "f"}},
		{body: "requested review from @carol", action: "reviewer", added: []string{"carol"}},
		{body: "removed review request for @carol", action: "reviewer", removed: []string{"carol"}},
		{body: "requested review from @a and @b and removed review request for @c", action: "reviewer", added: []string{"a", "b"}, removed: []string{"c"}},
		{body: "requested a new review from @dave", action: "review_request", added: []string{"dave"}},
		{body: "changed due date to December 12, 2025", action: "due_date", new: s("2025-12-12")},
		{body: "changed due date to March 3, 2026", action: "due_date", new: s("2026-03-03")},
		{body: "removed due date", action: "due_date"},
		{body: "changed title from **Old** to **Old{+ new+}**", action: "title", old: s("Old"), new: s("Old new")},
		{body: "changed title from **Fix login[- flow-]** to **Fix login**", action: "title", old: s("Fix login flow"), new: s("Fix login")},
		{body: "changed title from **A[-b-]c** to **A{+d+}c**", action: "title", old: s("Abc"), new: s("Adc")},
		{body: "marked this merge request as **draft**", action: "title", new: s("draft")},
		{body: "marked this merge request as **ready**", action: "title", new: s("ready")},
		{body: "marked as a **Work In Progress**", action: "title", new: s("draft")},
		{body: "unmarked as a **Work In Progress**", action: "title", new: s("ready")},
		{body: "changed the description", action: "description"},
		{body: "set status to **In progress**", action: "work_item_status", new: s("In progress")},
		{body: "set status to **To do**", action: "work_item_status", new: s("To do")},
		{body: "marked this issue as related to #12", action: "relate", relType: "Issue", relRef: "#12"},
		{body: "marked this issue as related to group/project#12", action: "relate", relType: "Issue", relRef: "group/project#12"},
		{body: "removed the relation with #12", action: "unrelate", relType: "Issue", relRef: "#12"},
		{body: "added &3 as parent epic", action: "relate_to_parent", relType: "Epic", relRef: "&3"},
		{body: "added #7 as parent issue", action: "relate_to_parent", relType: "Issue", relRef: "#7"},
		{body: "removed parent epic &3", action: "unrelate_from_parent", relType: "Epic", relRef: "&3"},
		{body: "moved to acme/api#40", action: "moved", relType: "Issue", relRef: "acme/api#40"},
		{body: "moved from acme/old#2", action: "moved", relType: "Issue", relRef: "acme/old#2"},
		{body: "marked this issue as a duplicate of #5", action: "duplicate", relType: "Issue", relRef: "#5"},
		{body: "mentioned in merge request !3", action: "cross_reference", relType: "MergeRequest", relRef: "!3"},
		{body: "mentioned in issue acme/api#12", action: "cross_reference", relType: "Issue", relRef: "acme/api#12"},
		{body: "mentioned in commit 1a2b3c4d", action: "cross_reference", relType: "Commit", relRef: "1a2b3c4d"},
		{body: "mentioned in epic &4", action: "cross_reference", relType: "Epic", relRef: "&4"},
		{body: "closed", action: "closed"},
		{body: "closed via merge request !9", action: "closed", relType: "MergeRequest", relRef: "!9"},
		{body: "closed via commit 1a2b3c4d5e", action: "closed", relType: "Commit", relRef: "1a2b3c4d5e"},
		{body: "reopened", action: "reopened"},
		{body: "merged", action: "merged"},
		{body: "approved this merge request", action: "approved"},
		{body: "unapproved this merge request", action: "unapproved"},
		{body: "requested changes", action: "requested_changes"},
		{body: "changed milestone to %v1.0", action: "milestone"},
		{body: "removed milestone", action: "milestone"},
		{body: "added ~1 ~2 labels", action: "label"},
		{body: "added ~1 label and removed ~3 label", action: "label"},
		{body: "removed ~3 label", action: "label"},
		{body: "changed time estimate to 1h", action: "time_tracking"},
		{body: "added 2h 30m of time spent", action: "time_tracking"},
		{body: "subtracted 1h of time spent", action: "time_tracking"},
		{body: "removed time spent", action: "time_tracking"},
		{body: "made the issue confidential", action: "confidential"},
		{body: "made the issue visible to everyone", action: "confidential"},
		{body: "locked the discussion in this issue", action: "locked"},
		{body: "unlocked the discussion in this merge request", action: "unlocked"},
		{body: "added 3 commits\n\n<ul><li>abc - Fix</li></ul>", action: "commit"},
		{body: "added 1 commit", action: "commit"},
		// Wording the parser does not know: kept as 'other'.
		{body: "changed the severity to **High - S2**", action: "other"},
		{body: "enabled an automatic merge when the pipeline for 1a2b3c4d succeeds", action: "other"},
		{body: "assigned to someone", action: "other"},
		{body: "changed due date to tomorrow", action: "other"},
		{body: "", action: "other"},
	}
	for _, tc := range tests {
		got := ParseSystemNote(tc.body)
		if got.Action != tc.action {
			t.Errorf("%q: action %q, want %q", tc.body, got.Action, tc.action)
			continue
		}
		if !slices.Equal(got.Added, tc.added) || !slices.Equal(got.Removed, tc.removed) {
			t.Errorf("%q: added %q removed %q, want %q %q", tc.body, got.Added, got.Removed, tc.added, tc.removed)
		}
		if want := append(append([]string{}, tc.added...), tc.removed...); (tc.added != nil || tc.removed != nil) && !slices.Equal(got.Usernames, want) {
			t.Errorf("%q: usernames %q, want %q", tc.body, got.Usernames, want)
		}
		if str(got.Old) != str(tc.old) || str(got.New) != str(tc.new) {
			t.Errorf("%q: old %q new %q, want %q %q", tc.body, str(got.Old), str(got.New), str(tc.old), str(tc.new))
		}
		if got.RelatedType != tc.relType || got.RelatedRef != tc.relRef {
			t.Errorf("%q: related %q %q, want %q %q", tc.body, got.RelatedType, got.RelatedRef, tc.relType, tc.relRef)
		}
	}
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
