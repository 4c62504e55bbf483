package load

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/labtrail/labtrail/internal/fsx"
	"github.com/labtrail/labtrail/schemas"
)

// fillPartitions appends several batches to events so that two partitions
// hold several files and one holds a single file.
func fillPartitions(e *env, w *Warehouse) {
	e.t.Helper()
	for i := range 4 {
		e.mustAppend(w, schemas.Events, append(
			events(e.t, "2024-03-01T00:00:00Z", i*10+1, i*10+2),
			events(e.t, "", i*10+3)...))
	}
	e.mustAppend(w, schemas.Events, events(e.t, "2024-05-01T00:00:00Z", 100, 101))
	e.mustAppend(w, schemas.LabelEvents, []row{{"id": 1, "created_at": mustTime(e.t, "2024-03-01T00:00:00Z")}})
	e.mustAppend(w, schemas.LabelEvents, []row{{"id": 2, "created_at": mustTime(e.t, "2024-03-02T00:00:00Z")}})
}

// checkCompacted checks one file per partition, listed in the manifest, and
// the rows.
func checkCompacted(e *env, w *Warehouse, table string, want []string) {
	e.t.Helper()
	files := parquetFiles(e.t, filepath.Join(e.pq(), table))
	parts := map[string]int{}
	for _, f := range files {
		parts[path.Dir(f)]++
	}
	for p, n := range parts {
		if n != 1 {
			e.t.Errorf("%s/%s has %d files", table, p, n)
		}
	}
	if got := manifestPaths(e.t, w.DB(), table); !slices.Equal(got, prefixAll(table+"/", files)) {
		e.t.Errorf("manifest %q, files %q", got, files)
	}
	if got := e.sameRows(w.DB(), table); !slices.Equal(got, want) {
		e.t.Errorf("%s rows changed:\n%q\nwant\n%q", table, got, want)
	}
	for _, dir := range []string{".compact", ".staging"} {
		if f := parquetFiles(e.t, filepath.Join(e.pq(), dir)); len(f) != 0 {
			e.t.Errorf("%s left %q", dir, f)
		}
	}
}

func TestCompact(t *testing.T) { forEachTree(t, testCompact) }

func testCompact(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	fillPartitions(e, w)
	before := e.sameRows(w.DB(), "events")
	beforeLabels := e.sameRows(w.DB(), "label_events")
	if n := len(parquetFiles(t, filepath.Join(e.pq(), "events"))); n != 9 {
		t.Fatalf("%d files before", n)
	}

	stats, err := w.Compact(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (CompactStats{Partitions: 3, FilesRemoved: 10, Rows: 14}); stats != want {
		t.Errorf("stats %+v, want %+v", stats, want)
	}
	checkCompacted(e, w, "events", before)
	checkCompacted(e, w, "label_events", beforeLabels)
	if n := len(parquetFiles(t, filepath.Join(e.pq(), "events"))); n != 3 {
		t.Errorf("%d files after", n)
	}
	if got := query(t, w.DB(), `SELECT "rows" FROM _labtrail_files WHERE path LIKE 'events/created_month=2024-03/%'`); !slices.Equal(got, []string{"8"}) {
		t.Errorf("manifest rows %q", got)
	}
	// Types survive the rewrite.
	if got := query(t, w.DB(), "SELECT column_type FROM (DESCRIBE SELECT created_at FROM "+e.parquetGlob("events")+")"); !slices.Equal(got, []string{"TIMESTAMP WITH TIME ZONE"}) {
		t.Errorf("created_at %q", got)
	}

	// Nothing left to do.
	if stats, err := w.Compact(e.ctx); err != nil || stats != (CompactStats{}) {
		t.Errorf("second Compact: %+v, %v", stats, err)
	}
	// Appends after a compaction work as before.
	e.mustAppend(w, schemas.Events, events(t, "2024-03-09T00:00:00Z", 200, 1))
	if rows := e.sameRows(w.DB(), "events"); len(rows) != len(before)+1 {
		t.Errorf("%d rows", len(rows))
	}
}

// TestCompactOlderSchema compacts a partition holding a file written before
// a column was added: the merged file has the column, null for those rows.
func TestCompactOlderSchema(t *testing.T) { forEachTree(t, testCompactOlderSchema) }

func testCompactOlderSchema(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	e.mustAppend(w, schemas.WeightEvents, []row{{"id": 1, "weight": 3, "user_state": "active", "created_at": mustTime(t, "2024-03-01T00:00:00Z")}})

	// An older weight_events schema: without the last user column.
	fields := schemas.WeightEvents.Schema.Fields()
	var oldFields []arrow.Field
	for _, f := range fields {
		if f.Name != "user_state" {
			oldFields = append(oldFields, f)
		}
	}
	oldTable := schemas.Table{Name: "weight_events", Kind: schemas.Fact, Schema: arrow.NewSchema(oldFields, nil)}
	rec := buildRecord(t, e.alloc, oldTable, row{"id": 2, "weight": 5, "created_at": mustTime(t, "2024-03-02T00:00:00Z")})
	rel := "weight_events/created_month=2024-03/old-000001.parquet"
	err := w.parquet.tree.publish(e.ctx, rel, oldTable.Schema, func(fw *pqarrow.FileWriter) error { return fw.Write(rec) })
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	// Its rows are in DuckDB too, as an older labtrail would have left them.
	if _, err := w.DB().Exec(`INSERT INTO weight_events (id, weight, created_at, _extracted_at, _run_id) VALUES (2, 5, '2024-03-02T00:00:00Z', now(), 'old');
		INSERT INTO _labtrail_files VALUES ('weight_events', ?, 1, 'old', now())`, rel); err != nil {
		t.Fatal(err)
	}

	if _, err := w.Compact(e.ctx); err != nil {
		t.Fatal(err)
	}
	got := query(t, w.DB(), "SELECT id, weight, user_state FROM "+e.parquetGlob("weight_events")+" ORDER BY id")
	if want := []string{"1|3|active", "2|5|NULL"}; !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if n := len(parquetFiles(t, filepath.Join(e.pq(), "weight_events"))); n != 1 {
		t.Errorf("%d files", n)
	}
}

// TestCompactInterrupted fails a compaction at each step and checks what
// readers see right away and what the next Open makes of it.
func TestCompactInterrupted(t *testing.T) {
	for _, point := range []string{"compact commit", "compact swap", "compact cleanup"} {
		t.Run(strings.ReplaceAll(point, " ", "_"), func(t *testing.T) {
			forEachTree(t, func(t *testing.T, e *env) { testCompactInterrupted(t, e, point) })
		})
	}
}

func testCompactInterrupted(t *testing.T, e *env, point string) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	fillPartitions(e, w)
	before := e.sameRows(w.DB(), "events")
	w.hook = func(p string) error {
		if p == point {
			return errors.New("crash")
		}
		return nil
	}
	if _, err := w.Compact(e.ctx); err == nil {
		t.Fatal("Compact succeeded")
	}
	w.hook = nil
	// A directory's readers still see every row exactly once. A
	// bucket's see the old objects beside the merged one once the
	// manifest swap committed, until the next Open deletes them.
	got := query(t, w.DB(), "SELECT * EXCLUDE (created_month) FROM "+e.parquetGlob("events")+" ORDER BY id")
	if e.s3 != nil && point != "compact commit" {
		got = slices.Compact(got)
		if n := queryInt(t, w.DB(), "SELECT count(*) - count(DISTINCT id) FROM "+e.parquetGlob("events")); n == 0 {
			t.Errorf("no row listed twice after a failure past the commit point; the old objects were deleted?")
		}
	}
	if !slices.Equal(got, before) {
		t.Errorf("rows right after the failure:\n%q\nwant\n%q", got, before)
	}
	// The process keeps running and appends to the partition whose
	// compaction is pending.
	e.mustAppend(w, schemas.Events, events(t, "2024-03-20T00:00:00Z", 300))
	e.close(w)

	w = e.open("run2")
	defer e.close(w)
	rows := e.sameRows(w.DB(), "events")
	if len(rows) != len(before)+1 {
		t.Errorf("%d rows after recovery, want %d", len(rows), len(before)+1)
	}
	if got := manifestPaths(t, w.DB(), "events"); !slices.Equal(got, prefixAll("events/", parquetFiles(t, filepath.Join(e.pq(), "events")))) {
		t.Errorf("manifest %q", got)
	}
	if _, err := os.Stat(filepath.Join(e.pq(), ".compact")); !os.IsNotExist(err) {
		t.Errorf(".compact survived: %v", err)
	}
	// A new compaction finishes the job.
	if _, err := w.Compact(e.ctx); err != nil {
		t.Fatal(err)
	}
	checkCompacted(e, w, "events", rows)
}

// TestSwapDirs checks the exchange of a staging partition with the live one,
// both with RENAME_EXCHANGE and with the rename fallback.
func TestSwapDirs(t *testing.T) {
	unsupported := func(a, b string) error { return fsx.ErrExchangeUnsupported }
	for name, exchange := range map[string]func(a, b string) error{"exchange": fsx.Exchange, "fallback": unsupported} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			stage, live := filepath.Join(dir, "stage"), filepath.Join(dir, "live")
			mustWrite(t, filepath.Join(stage, "new"), "new")
			mustWrite(t, filepath.Join(live, "old"), "old")
			if err := swapDirsWith(exchange, stage, live); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(live, "new")); err != nil {
				t.Error(err)
			}
			if _, err := os.Stat(filepath.Join(stage, "old")); err != nil {
				t.Error(err)
			}
			if _, err := os.Stat(stage + ".old"); !os.IsNotExist(err) {
				t.Errorf("fallback left %s.old: %v", stage, err)
			}
		})
	}
}

// TestCompactRecoveryFallbackStates builds by hand the states the rename
// fallback can crash in and checks that Open repairs each.
func TestCompactRecoveryFallbackStates(t *testing.T) {
	for _, state := range []string{"live moved away", "swapped, old not moved back"} {
		t.Run(strings.ReplaceAll(state, " ", "_"), func(t *testing.T) {
			e := newEnv(t)
			defer e.alloc.AssertSize(t, 0)
			w := e.open("run1")
			fillPartitions(e, w)
			before := e.sameRows(w.DB(), "events")
			w.hook = func(p string) error {
				if p == "compact swap" {
					return errors.New("crash")
				}
				return nil
			}
			if _, err := w.Compact(e.ctx); err == nil {
				t.Fatal("Compact succeeded")
			}
			e.close(w)
			// One partition's compaction committed; redo its swap by hand,
			// the way the fallback does, stopping halfway.
			part := filepath.Join("events", "created_month=2024-03")
			stage, live := filepath.Join(e.pq(), ".compact", part), filepath.Join(e.pq(), part)
			if _, err := os.Stat(stage); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(live, stage+".old"); err != nil {
				t.Fatal(err)
			}
			if state == "swapped, old not moved back" {
				if err := os.Rename(stage, live); err != nil {
					t.Fatal(err)
				}
			}
			w = e.open("run2")
			defer e.close(w)
			if rows := e.sameRows(w.DB(), "events"); !slices.Equal(rows, before) {
				t.Errorf("rows %q, want %q", rows, before)
			}
			if n := len(parquetFiles(t, filepath.Join(e.pq(), part))); n != 1 {
				t.Errorf("%d files in %s", n, part)
			}
		})
	}
}

// TestCompactAgainAfterFailedSwap: a compaction that committed but failed
// to swap leaves its merged file in .compact for recovery. A later Compact
// by the same process (after more rows reached that partition) must finish
// that compaction, not throw the merged file away: otherwise the manifest
// lists a file that no longer exists and the next Open deletes the
// partition's old files, losing their rows from Parquet.
func TestCompactAgainAfterFailedSwap(t *testing.T) { forEachTree(t, testCompactAgainAfterFailedSwap) }

func testCompactAgainAfterFailedSwap(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	fillPartitions(e, w)
	w.hook = func(p string) error {
		if p == "compact swap" {
			return errors.New("crash")
		}
		return nil
	}
	if _, err := w.Compact(e.ctx); err == nil {
		t.Fatal("Compact succeeded")
	}
	w.hook = nil
	e.mustAppend(w, schemas.Events, events(t, "2024-03-20T00:00:00Z", 300))
	// DuckDB's rows: a bucket still lists the replaced objects beside the
	// merged one, until the next Compact or Open deletes them.
	before := query(t, w.DB(), "SELECT * FROM events ORDER BY id")

	if _, err := w.Compact(e.ctx); err != nil {
		t.Errorf("second Compact: %v", err)
	}
	checkCompacted(e, w, "events", before)
	e.close(w)

	w = e.open("run2")
	defer e.close(w)
	checkCompacted(e, w, "events", before)
}

// TestCompactCommitOutcome: DuckDB can report a failed COMMIT that did
// commit (the "committed duckdb" hook simulates exactly that). The
// compaction must then go on with the swap, as AppendFacts keeps its files,
// instead of deleting the merged file the manifest now lists.
func TestCompactCommitOutcome(t *testing.T) { forEachTree(t, testCompactCommitOutcome) }

func testCompactCommitOutcome(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer func() { e.close(w) }()
	fillPartitions(e, w)
	before := e.sameRows(w.DB(), "events")
	failAfterCommit := func(p string) error {
		if p == "committed duckdb" {
			return errors.New("COMMIT reported a failure")
		}
		return nil
	}

	// AppendFacts: the rows are kept and reported as added.
	w.hook = failAfterCommit
	n, err := e.append(w, schemas.Events, events(t, "2024-03-21T00:00:00Z", 400))
	w.hook = nil
	if err != nil || n != 1 {
		t.Fatalf("AppendFacts whose COMMIT committed: %d, %v", n, err)
	}
	before = append(before, e.sameRows(w.DB(), "events")[len(before)])

	w.hook = failAfterCommit
	_, err = w.Compact(e.ctx)
	w.hook = nil
	if err != nil {
		t.Errorf("Compact whose COMMIT committed: %v", err)
	}
	if got := e.sameRows(w.DB(), "events"); !slices.Equal(got, before) {
		t.Errorf("rows right after Compact:\n%q\nwant\n%q", got, before)
	}
	e.close(w)
	w = e.open("run2")
	checkCompacted(e, w, "events", before)
}
