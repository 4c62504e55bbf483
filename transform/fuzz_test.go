package transform

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

// FuzzDecodeAndFlatten decodes arbitrary bytes as a JSON array of every
// entity type in turn and flattens whatever decoded (even when decoding
// failed half-way): flattening must never panic, must report no mistake and
// must give a valid record of the table's schema with one row per element.
//
//	go test -fuzz=FuzzDecodeAndFlatten -fuzztime=10s ./transform
func FuzzDecodeAndFlatten(f *testing.F) {
	fixtures := readFixtures(f)
	// One seed per fixture item: small inputs keep executions and the
	// minimization of new inputs fast.
	for _, name := range slices.Sorted(maps.Keys(fixtures)) {
		fx := fixtures[name]
		p := fx.Parent.parent()
		var items []json.RawMessage
		if err := json.Unmarshal(fx.Items, &items); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		for _, it := range items {
			var compact bytes.Buffer
			if err := json.Compact(&compact, it); err != nil {
				f.Fatal(err)
			}
			f.Add([]byte("["+compact.String()+"]"), string(p.Type), p.ID, p.IID, p.ProjectID, p.GroupID)
		}
	}
	// Huge strings: the body expands up to maxBigTokens occurrences of
	// bigToken into bigJSON, so the corpus stays small (the fuzzer mutates
	// and minimizes small inputs quickly) while the values get large.
	for _, s := range []string{
		`[{"id":1,"note":{"id":2,"body":"` + bigToken + `"},"author":{"id":3,"name":"` + bigToken + `"}}]`,
		`[{"id":1,"label":{"id":2,"name":"` + bigToken + `","description":null},"user":null,"iteration":{"id":1,"state":3}}]`,
		`[{}, null, {"id":-9223372036854775808,"created_at":"9999-12-31T23:59:59.999999999+23:59"}]`,
		`[{"id":1,"created_at":"0001-01-01T00:00:00-23:59","milestone":{"id":2,"due_date":"0001-01-01","start_date":"9999-12-31"}}]`,
		`[{"id":1,"iteration":{"id":2,"state":"weird"}},{"id":2,"iteration":{"id":3,"state":99999999999999999999}}]`,
		`[{"id":1,"author_id":null,"author":{"id":0},"push_data":{},"note":{},"wiki_page":{}}]`,
		`[{"id":1,"namespace":null},{"id":2,"namespace":{"id":3}}]`,
		`[{"id":1,"labels":["` + bigToken + `",null,"x"],"assignees":[{"id":2},{}],"reviewers":null,"time_stats":{}}]`,
		"[{\"id\":1,\"title\":\"\xff\xfe invalid utf-8\"}]",
		`[`, `null`, `{"id":1}`, `[1,"a",true]`,
	} {
		f.Add([]byte(s), "Epic", int64(33), int64(3), int64(0), int64(1))
	}
	f.Add([]byte(`[{}]`), "\x84 not UTF-8", int64(-1), int64(0), int64(-1), int64(-4))

	f.Fuzz(func(t *testing.T, data []byte, ptype string, pid, piid, pproj, pgroup int64) {
		mem := newMem(t)
		defer mem.AssertSize(t, 0)
		data = bytes.Replace(data, []byte(bigToken), []byte(bigJSON), maxBigTokens)
		p := extract.Parent{Type: schemas.ParentKind(ptype), ID: pid, IID: piid, ProjectID: pproj, GroupID: pgroup}
		refs := NewReferenced()
		for _, k := range entityKinds {
			flattenOne(t, mem, k, refs, p, data)
		}
		trs := refs.Records(mem, testMeta)
		defer func() {
			for _, tr := range trs {
				tr.Rec.Release()
			}
		}()
		n := 0
		for _, tr := range trs {
			checkRecord(t, tr.Table, tr.Rec, int(tr.Rec.NumRows()))
			n += int(tr.Rec.NumRows())
		}
		if n != refs.Len() {
			t.Fatalf("refs: %d rows, Len %d", n, refs.Len())
		}
	})
}

const (
	bigToken     = "$BIG$"
	maxBigTokens = 4
)

// bigJSON is the content of a JSON string of about 360 KiB, escapes and
// multi-byte characters included. (TestHugeStrings goes larger.)
var bigJSON = strings.Repeat(`ab\u00e9🦊\n\u0000\"`, 1<<14)

func flattenOne(t *testing.T, mem memory.Allocator, k entityKind, refs *Referenced, p extract.Parent, data []byte) {
	t.Helper()
	b := NewBuilder(mem, k.table, testMeta)
	defer b.Release()
	n, _ := k.flatten(b, refs, p, data) // a decode error is fine
	if b.Len() != n {
		t.Fatalf("%s: Len %d, decoded %d", k.name, b.Len(), n)
	}
	rec := b.NewRecord()
	defer rec.Release()
	checkRecord(t, k.table, rec, n)
	if err := b.Err(); err != nil {
		t.Fatalf("%s: %v", k.name, err)
	}
}
