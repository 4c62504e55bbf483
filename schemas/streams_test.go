package schemas

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's generated tables (streams, event kinds)")

const (
	readme     = "../README.md"
	tableBegin = "<!-- streams: generated from schemas.Streams by `go test ./schemas -update` -->\n"
	tableEnd   = "<!-- end of streams -->\n"
)

// The README's stream table is StreamTable's output; -update rewrites it.
func TestReadmeStreamTable(t *testing.T) {
	checkReadmeTable(t, tableBegin, tableEnd, StreamTable())
}

// checkReadmeTable checks that the README holds table between the marker
// lines begin and end; with -update it writes it there instead.
func checkReadmeTable(t *testing.T, begin, end, table string) {
	t.Helper()
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated table between %q and %q", readme, begin, end)
	}
	want := doc[:i+len(begin)] + table + doc[j:]
	if *update {
		if err := os.WriteFile(readme, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if doc != want {
		t.Errorf("%s's table after %q is stale; run go test ./schemas -update. Want:\n%s", readme, strings.TrimSpace(begin), table)
	}
}

func TestStreams(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Streams() {
		if seen[s.Name()] {
			t.Errorf("stream %s declared twice", s.Name())
		}
		seen[s.Name()] = true
		if s.Table.Kind != Fact {
			t.Errorf("stream %s writes dimension table %s", s.Name(), s.Table.Name)
		}
		if (s.Family == "" && s.Route == "") != (len(s.Parents) == 0) {
			t.Errorf("stream %s: a resource-event family or a per-parent route needs parents, and only they have them", s.Name())
		}
		if s.Family != "" && s.Route != "" {
			t.Errorf("stream %s: both a family and a route", s.Name())
		}
		if (len(s.Parents) == 0) != (len(s.Paths) > 0) {
			t.Errorf("stream %s: a stream read per scope names its paths, and only it", s.Name())
		}
		if slices.Contains(DefaultStreamNames(), s.Name()) == s.OptIn {
			t.Errorf("stream %s: opt-in %v, but in the default set: %v", s.Name(), s.OptIn, !s.OptIn)
		}
		if got, ok := StreamByName(s.Name()); !ok || got.Name() != s.Name() {
			t.Errorf("StreamByName(%s) = %v %v", s.Name(), got.Name(), ok)
		}
		if s.Incremental == "" {
			t.Errorf("stream %s does not say how it is incremental", s.Name())
		}
	}
	if _, ok := StreamByName("issues"); ok {
		t.Error("a dimension table is a stream")
	}
	if got := ScopeProject.Key(42); got != "project:42" {
		t.Errorf("project key %q", got)
	}
	if got := ScopeCurrentUser.Key(0); got != "current_user" {
		t.Errorf("current_user key %q", got)
	}
	if got := ScopeInstance.Key(0); got != "instance" {
		t.Errorf("instance key %q", got)
	}
	if got := len(DefaultStreamNames()); got != 7 {
		t.Errorf("%d default streams, want the seven the README promises", got)
	}
	for _, k := range ParentKinds() {
		if k.Table().Kind != Dimension || k.Premium() != (k.Scope() == ScopeGroup) {
			t.Errorf("parent kind %s: table %s, premium %v, scope %s", k, k.Table().Name, k.Premium(), k.Scope())
		}
	}
}
