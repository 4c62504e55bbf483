package transform

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

var update = flag.Bool("update", false, "rewrite transform/testdata/*.golden from the current output")

// fixture is a testdata/*.json file: a GitLab response (items) with the
// table it belongs to and, for resource events, the parent it was read from.
type fixture struct {
	Comment string          `json:"comment"`
	Table   string          `json:"table"`
	Parent  *fixtureParent  `json:"parent"`
	Items   json.RawMessage `json:"items"`
}

type fixtureParent struct {
	Type      schemas.ParentKind `json:"type"`
	ID        int64              `json:"id"`
	IID       int64              `json:"iid"`
	ProjectID int64              `json:"project_id"`
	GroupID   int64              `json:"group_id"`
}

func (p *fixtureParent) parent() extract.Parent {
	if p == nil {
		return extract.Parent{}
	}
	return extract.Parent{Type: p.Type, ID: p.ID, IID: p.IID, ProjectID: p.ProjectID, GroupID: p.GroupID}
}

func readFixtures(t testing.TB) map[string]fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no fixtures in testdata")
	}
	out := make(map[string]fixture, len(paths))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var fx fixture
		if err := json.Unmarshal(data, &fx); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[strings.TrimSuffix(filepath.Base(path), ".json")] = fx
	}
	return out
}

// renderFixture flattens fx into its table and its refs and renders both.
func renderFixture(t *testing.T, fx fixture) []byte {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)

	k := kindByName(t, fx.Table)
	b := NewBuilder(mem, k.table, testMeta)
	defer b.Release()
	refs := NewReferenced()
	n, err := k.flatten(b, refs, fx.Parent.parent(), fx.Items)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if n == 0 {
		t.Fatal("fixture has no items")
	}
	if b.Len() != n {
		t.Fatalf("Len() = %d, want %d", b.Len(), n)
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := b.Err(); err != nil {
		t.Fatalf("Err: %v", err)
	}
	if b.Len() != 0 {
		t.Fatalf("Len() after NewRecord = %d", b.Len())
	}
	checkRecord(t, k.table, rec, n)

	var out bytes.Buffer
	renderRecord(t, &out, k.table.Name, rec)
	trs := refs.Records(mem, testMeta)
	for _, tr := range trs {
		defer tr.Rec.Release()
		checkRecord(t, tr.Table, tr.Rec, int(tr.Rec.NumRows()))
		out.WriteString("\n")
		renderRecord(t, &out, "refs "+tr.Table.Name, tr.Rec)
	}
	return out.Bytes()
}

func TestGolden(t *testing.T) {
	fixtures := readFixtures(t)
	for name, fx := range fixtures {
		t.Run(name, func(t *testing.T) {
			got := renderFixture(t, fx)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./transform -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the output (run go test ./transform -update and review the diff):\n%s",
					golden, firstDiff(want, got))
			}
		})
	}
	// Every golden file has its fixture.
	goldens, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
	for _, g := range goldens {
		if _, ok := fixtures[strings.TrimSuffix(filepath.Base(g), ".golden")]; !ok {
			t.Errorf("%s has no fixture", g)
		}
	}
}

// firstDiff shows the first differing line of two renderings.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(no line differs)"
}
