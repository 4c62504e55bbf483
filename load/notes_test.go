package load

import (
	"slices"
	"strings"
	"testing"

	"github.com/labtrail/labtrail/schemas"
)

func note(t *testing.T, id int, created string, body any, internal any) row {
	r := event(t, id, created, "commented on")
	r["note_id"], r["note_body"], r["note_internal"] = id, body, internal
	return r
}

// A warehouse that kept internal notes, opened to redact them, nulls their
// stored bodies in DuckDB and in Parquet, rewriting only the partitions
// that hold one; public notes keep theirs, and a second Open has nothing
// left to do.
func TestRedactStoredInternalNotes(t *testing.T) { forEachTree(t, testRedactStoredInternalNotes) }

func testRedactStoredInternalNotes(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("keep")
	e.mustAppend(w, schemas.Events, []row{note(t, 1, "2024-03-01T00:00:00Z", "secret one", true),
		note(t, 2, "2024-03-02T00:00:00Z", "public", false)})
	e.mustAppend(w, schemas.Events, []row{note(t, 3, "2024-03-03T00:00:00Z", "secret three", true),
		note(t, 4, "2024-04-01T00:00:00Z", "unmarked (an older labtrail)", nil),
		note(t, 5, "2024-05-01T00:00:00Z", nil, true),
		note(t, 6, "", "secret six, no created_at", true)})
	before := parquetFiles(t, e.pq())
	e.close(w)

	opts := e.opts("redact")
	opts.RedactInternalNotes = true
	w, err := Open(e.ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1|NULL|true", "2|public|false", "3|NULL|true", "4|unmarked (an older labtrail)|NULL", "5|NULL|true", "6|NULL|true"}
	e.sameRows(w.DB(), "events")
	if got := query(t, w.DB(), "SELECT id, note_body, note_internal FROM "+e.parquetGlob("events")+" ORDER BY id"); !slices.Equal(got, want) {
		t.Errorf("after redaction %q, want %q", got, want)
	}
	// The partitions without internal bodies keep their files; the two
	// with some are rewritten into one file each.
	files := parquetFiles(t, e.pq())
	for _, f := range before {
		kept := slices.Contains(files, f)
		if month := strings.Split(f, "/")[1]; kept != (month == "created_month=2024-04" || month == "created_month=2024-05") {
			t.Errorf("%s kept %v", f, kept)
		}
	}
	if len(files) != len(before)-1 {
		t.Errorf("files before %q, after %q", before, files)
	}
	if got := manifestPaths(t, w.DB(), "events"); !slices.Equal(got, files) {
		t.Errorf("manifest %q, files %q", got, files)
	}
	e.close(w)

	w, err = Open(e.ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close(w)
	if again := parquetFiles(t, e.pq()); !slices.Equal(again, files) {
		t.Errorf("a second Open rewrote files: %q, then %q", files, again)
	}
}
