package pipeline

import (
	"bytes"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/schemas"
)

// internalMarker starts every internal note's body in the fake.
const internalMarker = "INTERNAL-"

// rowsMentioning counts, per table, the rows of every table in DuckDB and
// of every Parquet dataset whose text (any column) contains s.
func (h *harness) rowsMentioning(s string) map[string]int {
	h.t.Helper()
	out := map[string]int{}
	h.withDB(func(db *sql.DB) {
		for _, t := range schemas.All() {
			glob := filepath.Join(h.cfg.Warehouse.Parquet, t.Name, "**", "*.parquet")
			sources := map[string]string{"duckdb " + t.Name: t.Name}
			if _, err := os.Stat(filepath.Join(h.cfg.Warehouse.Parquet, t.Name)); err == nil {
				sources["parquet "+t.Name] = fmt.Sprintf("read_parquet('%s', union_by_name = true)", glob)
			} // else a stream the pipeline does not read (audit events): no dataset
			for src, from := range sources {
				var n int
				q := fmt.Sprintf("SELECT count(*) FROM %s AS x WHERE x::VARCHAR LIKE '%%%s%%'", from, s)
				if err := db.QueryRow(q).Scan(&n); err != nil {
					h.t.Fatalf("%s: %v", q, err)
				}
				if n > 0 {
					out[src] = n
				}
			}
		}
	})
	return out
}

// filesContaining lists the files under dir whose bytes contain s.
func filesContaining(t testing.TB, dir, s string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// internalCount is how many internal notes the warehouse holds.
func (h *harness) internalCount() string {
	n := h.query("SELECT count(*) FROM events WHERE note_internal")[0]
	if n == "0" {
		h.t.Fatal("no internal note exported: the test proves nothing")
	}
	return n
}

// checkNotes checks the warehouse exactly, internal bodies kept or not.
func (h *harness) checkNotes(keep bool) {
	h.t.Helper()
	scope := acmeScope(h.fake.Data())
	scope.KeepInternalNotes = keep
	h.checkExact(scope)
}

func notesInstance() gitlabfake.Options {
	return gitlabfake.Options{Seed: 21, Scale: gitlabfake.Scale{Users: 6, IssuesPerProject: 20, MRsPerProject: 8,
		EpicsPerGroup: 2, EventsPerProject: 300, BigProjectEvents: 200, ResourceEventsPerParent: 3}}
}

// With the default internal_notes (redact), no internal note's body is
// anywhere in the warehouse: not in any table of DuckDB or Parquet, not
// in any file's bytes; the rows themselves are there and say
// note_internal.
func TestInternalNotesRedactedByDefault(t *testing.T) {
	h := newHarness(t, notesInstance(), acmePipeline)
	if h.cfg.Warehouse.InternalNotes != config.InternalNotesRedact {
		t.Fatalf("default internal_notes is %q", h.cfg.Warehouse.InternalNotes)
	}
	h.mustRun()
	h.checkNotes(false)
	h.internalCount()
	if found := h.rowsMentioning(internalMarker); len(found) > 0 {
		t.Errorf("internal note bodies stored under redact: %v", found)
	}
	if files := filesContaining(t, h.dir, internalMarker); len(files) > 0 {
		t.Errorf("internal note bodies in %q", files)
	}
}

// With keep, internal bodies are stored like any other; switched to
// redact, the next run nulls the ones stored (DuckDB and Parquet, whose
// files are rewritten) and stores none of the new ones.
func TestInternalNotesKeptThenRedacted(t *testing.T) {
	h := newHarness(t, notesInstance(), acmePipeline)
	h.cfg.Warehouse.InternalNotes = config.InternalNotesKeep
	h.mustRun()
	h.checkNotes(true)
	internal := h.internalCount()
	found := h.rowsMentioning(internalMarker)
	if fmt.Sprint(found["duckdb events"]) != internal || fmt.Sprint(found["parquet events"]) != internal || len(found) != 2 {
		t.Errorf("rows with internal bodies %v, want %s in events (DuckDB and Parquet)", found, internal)
	}

	h.cfg.Warehouse.InternalNotes = config.InternalNotesRedact
	h.fake.AddActivity(22)
	h.mustRun()
	h.checkNotes(false)
	if h.internalCount() == internal {
		t.Error("the activity added no internal note")
	}
	if found := h.rowsMentioning(internalMarker); len(found) > 0 {
		t.Errorf("internal note bodies left after switching to redact: %v", found)
	}
	if files := filesContaining(t, h.cfg.Warehouse.Parquet, internalMarker); len(files) > 0 {
		t.Errorf("internal note bodies left in Parquet files %q", files)
	}
}
