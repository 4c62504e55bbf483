package schemas

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// Every table is keyed by columns it has, not nullable; a bridge names a
// list column of a dimension, and its value column has the list's element
// type.
func TestKeysAndBridges(t *testing.T) {
	names := map[string]Table{}
	for _, tbl := range All() {
		if _, dup := names[tbl.Name]; dup {
			t.Errorf("table %s declared twice", tbl.Name)
		}
		names[tbl.Name] = tbl
		for _, k := range tbl.Key() {
			idx := tbl.Schema.FieldIndices(k)
			if len(idx) != 1 || tbl.Schema.Field(idx[0]).Nullable {
				t.Errorf("%s: key column %s missing or nullable", tbl.Name, k)
			}
		}
		if (tbl.Kind == Bridge) != (tbl.Bridge != nil) {
			t.Errorf("%s: kind %d but Bridge %v", tbl.Name, tbl.Kind, tbl.Bridge)
		}
	}
	bridges := 0
	for _, tbl := range All() {
		b := tbl.Bridge
		if b == nil {
			continue
		}
		bridges++
		parent, ok := names[b.Parent]
		if !ok || parent.Kind != Dimension {
			t.Errorf("%s: parent %s is not a dimension table", tbl.Name, b.Parent)
			continue
		}
		idx := parent.Schema.FieldIndices(b.List)
		if len(idx) != 1 {
			t.Errorf("%s: %s has no column %s", tbl.Name, parent.Name, b.List)
			continue
		}
		lt, ok := parent.Schema.Field(idx[0]).Type.(*arrow.ListType)
		if !ok {
			t.Errorf("%s: %s.%s is not a list", tbl.Name, parent.Name, b.List)
			continue
		}
		v := tbl.Schema.Field(tbl.Schema.FieldIndices(b.ValueColumn)[0])
		if !arrow.TypeEqual(v.Type, lt.Elem()) {
			t.Errorf("%s.%s is %s, the list holds %s", tbl.Name, b.ValueColumn, v.Type, lt.Elem())
		}
		found := false
		for _, x := range BridgesOf(parent) {
			found = found || x.Name == tbl.Name
		}
		if !found {
			t.Errorf("BridgesOf(%s) misses %s", parent.Name, tbl.Name)
		}
	}
	if bridges != 5 || len(BridgesOf(Issues)) != 2 || len(BridgesOf(MergeRequests)) != 3 || len(BridgesOf(Users)) != 0 {
		t.Errorf("%d bridges; issues %d, merge requests %d, users %d", bridges,
			len(BridgesOf(Issues)), len(BridgesOf(MergeRequests)), len(BridgesOf(Users)))
	}
}
