package schemas

import (
	"strings"
	"testing"
)

const (
	kindsBegin = "<!-- event kinds: generated from schemas.EventKinds by `go test ./schemas -update` -->\n"
	kindsEnd   = "<!-- end of event kinds -->\n"
)

// The README's vocabulary table is EventKindTable's output; -update
// rewrites it.
func TestReadmeEventKindTable(t *testing.T) {
	checkReadmeTable(t, kindsBegin, kindsEnd, EventKindTable())
}

func TestEventKinds(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range EventKinds() {
		if seen[k.Name] {
			t.Errorf("event kind %s declared twice", k.Name)
		}
		seen[k.Name] = true
		if strings.Contains(k.Name, ":") || k.Name == "" {
			t.Errorf("event kind %q: a name cannot hold the argument separator", k.Name)
		}
		if len(k.Resources) == 0 || k.Doc == "" || k.sql == "" {
			t.Errorf("event kind %s: resources, doc and SQL are all required", k.Name)
		}
		if strings.Contains(k.sql, "{arg}") != (k.Arg != "") {
			t.Errorf("event kind %s: its SQL uses {arg} exactly when it takes an argument (%q)", k.Name, k.Arg)
		}
		if got, ok := EventKindByName(k.Name); !ok || got.Name != k.Name {
			t.Errorf("EventKindByName(%s) = %v %v", k.Name, got.Name, ok)
		}
	}
	if _, ok := EventKindByName("label_added:x"); ok {
		t.Error("a kind with its argument is found as a kind")
	}
}

func TestParseEventRef(t *testing.T) {
	for s, want := range map[string]EventRef{
		"issue_created":                {Kind: "issue_created"},
		"label_added:workflow::review": {Kind: "label_added", Arg: "workflow::review"},
		"status_set:In progress":       {Kind: "status_set", Arg: "In progress"},
		"label_added:":                 {Kind: "label_added"},
	} {
		if got := ParseEventRef(s); got != want {
			t.Errorf("ParseEventRef(%q) = %+v, want %+v", s, got, want)
		}
	}
	if got := (EventRef{Kind: "label_added", Arg: "it's"}).SQL(); !strings.Contains(got, "'it''s'") {
		t.Errorf("the argument is not quoted as a literal: %s", got)
	}
}

func TestStageResources(t *testing.T) {
	s := Stage{Start: EventRef{Kind: "label_added", Arg: "x"}, End: EventRef{Kind: "mr_merged"}}
	if got := s.Resources(); len(got) != 1 || got[0] != ParentMergeRequest {
		t.Errorf("Resources = %v", got)
	}
	s.End = EventRef{Kind: "epic_closed"}
	s.Start = EventRef{Kind: "issue_created"}
	if got := s.Resources(); len(got) != 0 {
		t.Errorf("Resources = %v, want none", got)
	}
}
