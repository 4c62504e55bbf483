package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

func TestRoundTrip(t *testing.T) { forEachTree(t, testRoundTrip) }

func testRoundTrip(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	db := w.DB()

	created := mustTime(t, "2024-03-05T12:00:00.123+02:00")
	evRows := []row{
		{"id": 1, "project_id": 7, "action_name": "pushed to", "target_type": nil, "author_id": 3, "author_username": "ann",
			"created_at": created, "push_commit_count": 2, "push_ref": "main", "note_system": nil},
		{"id": 2, "project_id": 7, "action_name": "commented on", "note_id": 99, "note_body": "héllo, \"world\"\n",
			"note_system": true, "created_at": mustTime(t, "2024-04-01T00:30:00+02:00")}, // March in UTC
		{"id": 3, "project_id": 8, "action_name": "joined"}, // null created_at
		{"id": 4, "project_id": 8, "action_name": "opened", "note_system": false, "created_at": mustTime(t, "2023-12-31T23:59:59.999999Z")},
	}
	if n := e.mustAppend(w, schemas.Events, evRows); n != 4 {
		t.Fatalf("added %d events, want 4", n)
	}
	leRows := []row{
		{"id": 10, "resource_type": "Issue", "resource_id": 5, "resource_iid": 1, "project_id": 7, "action": "add",
			"created_at": created, "user_id": 3, "user_username": "ann", "label_id": 4, "label_name": "bug", "label_color": "#ff0000"},
		{"id": 11, "resource_type": "Epic", "resource_id": 6, "resource_iid": 2, "group_id": 9, "action": "remove",
			"created_at": mustTime(t, "2024-05-01T00:00:00Z"), "label_id": 4, "label_name": "bug"},
	}
	if n := e.mustAppend(w, schemas.LabelEvents, leRows); n != 2 {
		t.Fatalf("added %d label events, want 2", n)
	}
	due := time.Date(2024, 7, 31, 0, 0, 0, 0, time.UTC)
	meRows := []row{
		{"id": 20, "resource_type": "Issue", "resource_id": 5, "action": "add", "created_at": created,
			"milestone_id": 1, "milestone_title": "v1", "milestone_due_date": due, "milestone_start_date": nil},
	}
	e.mustAppend(w, schemas.MilestoneEvents, meRows)

	for _, tbl := range []string{"events", "label_events", "milestone_events"} {
		e.sameRows(db, tbl)
	}

	// Column types, in DuckDB and as read back from Parquet.
	for _, src := range []string{"events", e.parquetGlob("events")} {
		types := query(t, db, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "+src+") WHERE column_name IN ('id', 'created_at', 'note_system', 'action_name', '_extracted_at') ORDER BY column_name")
		want := []string{"_extracted_at|TIMESTAMP WITH TIME ZONE", "action_name|VARCHAR", "created_at|TIMESTAMP WITH TIME ZONE", "id|BIGINT", "note_system|BOOLEAN"}
		if !slices.Equal(types, want) {
			t.Errorf("%s types = %q, want %q", src, types, want)
		}
	}
	for _, src := range []string{"milestone_events", e.parquetGlob("milestone_events")} {
		types := query(t, db, "SELECT column_type FROM (DESCRIBE SELECT * FROM "+src+") WHERE column_name = 'milestone_due_date'")
		if !slices.Equal(types, []string{"DATE"}) {
			t.Errorf("%s milestone_due_date type = %q, want DATE", src, types)
		}
		got := query(t, db, "SELECT milestone_due_date::VARCHAR, milestone_start_date FROM "+src)
		if !slices.Equal(got, []string{"2024-07-31|NULL"}) {
			t.Errorf("%s dates = %q", src, got)
		}
	}

	// 2024-03-05T12:00:00.123+02:00 is stored as that instant in both.
	for _, src := range []string{"events", e.parquetGlob("events")} {
		var got time.Time
		if err := db.QueryRow("SELECT created_at FROM " + src + " WHERE id = 1").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(created) {
			t.Errorf("%s created_at = %s, want %s", src, got, created)
		}
		if us := queryInt(t, db, "SELECT epoch_us(created_at) FROM "+src+" WHERE id = 1"); us != created.UnixMicro() {
			t.Errorf("%s epoch_us = %d, want %d", src, us, created.UnixMicro())
		}
		if s := query(t, db, "SELECT strftime(created_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%g') FROM "+src+" WHERE id = 1"); !slices.Equal(s, []string{"2024-03-05 10:00:00.123"}) {
			t.Errorf("%s created_at in UTC = %q", src, s)
		}
	}

	// Partitions: UTC month, unknown for null created_at; the partition
	// column is not stored in the files.
	parts := query(t, db, "SELECT created_month, list(id ORDER BY id)::VARCHAR FROM "+e.parquetGlob("events")+" GROUP BY ALL ORDER BY 1")
	wantParts := []string{"2023-12|[4]", "2024-03|[1, 2]", "unknown|[3]"}
	if !slices.Equal(parts, wantParts) {
		t.Errorf("partitions = %q, want %q", parts, wantParts)
	}
	files := parquetFiles(t, filepath.Join(e.pq(), "events"))
	if len(files) != 3 {
		t.Fatalf("events files = %q", files)
	}
	for _, f := range files {
		if !strings.HasPrefix(f, "created_month=") || !strings.Contains(f, "/run1-") {
			t.Errorf("unexpected file %s", f)
		}
		cols := query(t, db, "SELECT name FROM parquet_schema(?) WHERE name = 'created_month'", filepath.Join(e.pq(), "events", f))
		if len(cols) != 0 {
			t.Errorf("%s stores the partition column", f)
		}
	}
	if got, want := manifestPaths(t, db, "events"), prefixAll("events/", files); !slices.Equal(got, want) {
		t.Errorf("manifest = %q, want %q", got, want)
	}
	if n := queryInt(t, db, `SELECT sum("rows") FROM _labtrail_files WHERE table_name = 'events'`); n != 4 {
		t.Errorf("manifest rows = %d", n)
	}
	// The Parquet timestamp is UTC-adjusted, zstd-compressed, with the Arrow schema stored.
	f := filepath.Join(e.pq(), "events", files[0])
	if lt := query(t, db, "SELECT logical_type FROM parquet_schema(?) WHERE name = 'created_at'", f); len(lt) != 1 || !strings.Contains(lt[0], "isAdjustedToUTC=1") {
		t.Errorf("created_at logical type = %q", lt)
	}
	if c := query(t, db, "SELECT DISTINCT compression FROM parquet_metadata(?)", f); !slices.Equal(c, []string{"ZSTD"}) {
		t.Errorf("compression = %q", c)
	}
	if kv := query(t, db, "SELECT count(*) FROM parquet_kv_metadata(?) WHERE key = 'ARROW:schema'", f); !slices.Equal(kv, []string{"1"}) {
		t.Errorf("ARROW:schema metadata: %q", kv)
	}
}

func prefixAll(prefix string, s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = prefix + v
	}
	return out
}

func TestIdempotence(t *testing.T) { forEachTree(t, testIdempotence) }

func testIdempotence(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	db := w.DB()
	key := WatermarkKey{Pipeline: "p", Scope: "project:7", Stream: "events"}
	mark := func(s string) Watermark { return Watermark{WatermarkKey: key, Value: mustTime(t, s)} }

	a := events(t, "2024-03-01T00:00:00Z", 1, 2, 3, 4, 5)
	if n := e.mustAppend(w, schemas.Events, a, mark("2024-03-01T00:00:00Z")); n != 5 {
		t.Fatalf("first append added %d", n)
	}
	if n := e.mustAppend(w, schemas.Events, a, mark("2024-03-01T00:00:00Z")); n != 0 {
		t.Fatalf("same batch again added %d", n)
	}
	// Overlapping, spanning two months.
	b := append(events(t, "2024-03-01T00:00:00Z", 4, 5), events(t, "2024-04-02T00:00:00Z", 6, 7, 8)...)
	if n := e.mustAppend(w, schemas.Events, b, mark("2024-04-02T00:00:00Z")); n != 3 {
		t.Fatalf("overlapping batch added %d, want 3", n)
	}
	// Duplicates inside one batch: the first wins.
	c := []row{event(t, 9, "2024-04-03T00:00:00Z", "first"), event(t, 9, "2024-04-03T00:00:00Z", "second"),
		event(t, 10, "", "x"), event(t, 9, "2024-05-01T00:00:00Z", "third")}
	if n := e.mustAppend(w, schemas.Events, c); n != 2 {
		t.Fatalf("batch with duplicates added %d, want 2", n)
	}
	rows := e.sameRows(db, "events")
	if len(rows) != 10 {
		t.Fatalf("%d rows, want 10", len(rows))
	}
	if got := query(t, db, "SELECT action_name FROM "+e.parquetGlob("events")+" WHERE id = 9"); !slices.Equal(got, []string{"first"}) {
		t.Errorf("id 9 = %q, want first", got)
	}
	if v, ok, err := w.Watermark(e.ctx, key); err != nil || !ok || !v.Equal(mustTime(t, "2024-04-02T00:00:00Z")) {
		t.Errorf("watermark = %v %v %v", v, ok, err)
	}
	// A batch that adds nothing still advances its marks; so does nil.
	if n := e.mustAppend(w, schemas.Events, a, mark("2024-04-05T00:00:00Z")); n != 0 {
		t.Fatalf("added %d", n)
	}
	if v, _, _ := w.Watermark(e.ctx, key); !v.Equal(mustTime(t, "2024-04-05T00:00:00Z")) {
		t.Errorf("watermark after a no-op batch = %v", v)
	}
	if _, err := w.AppendFacts(e.ctx, schemas.Events, nil, mark("2024-04-06T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := w.Watermark(e.ctx, key); !v.Equal(mustTime(t, "2024-04-06T00:00:00Z")) {
		t.Errorf("watermark after nil = %v", v)
	}

	// A batch that fails before the commit point stores neither rows nor marks,
	// and leaves no file behind.
	filesBefore := parquetFiles(t, e.pq())
	sinks := w.sinks
	for _, point := range []string{"appended duckdb", "prepare failing", "commit parquet", "commit duckdb"} {
		// A sink that fails its prepare, after the Parquet sink wrote its
		// files and while DuckDB appends the rows.
		w.sinks = append(slices.Clip(sinks), failingSink{hook: w.at})
		w.hook = func(p string) error {
			if p == point {
				return errors.New("injected failure")
			}
			return nil
		}
		_, err := e.append(w, schemas.Events, events(t, "2024-06-01T00:00:00Z", 11, 12), mark("2024-06-01T00:00:00Z"))
		if err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("%s: err = %v", point, err)
		}
		w.hook, w.sinks = nil, sinks
		if v, _, _ := w.Watermark(e.ctx, key); !v.Equal(mustTime(t, "2024-04-06T00:00:00Z")) {
			t.Errorf("%s: watermark moved to %v without its rows", point, v)
		}
		if got := parquetFiles(t, e.pq()); !slices.Equal(got, filesBefore) {
			t.Errorf("%s: files %q, want %q", point, got, filesBefore)
		}
		if n := queryInt(t, db, "SELECT count(*) FROM events WHERE id >= 11"); n != 0 {
			t.Errorf("%s: %d rows stored", point, n)
		}
	}
	// Retried, it goes through.
	if n := e.mustAppend(w, schemas.Events, events(t, "2024-06-01T00:00:00Z", 11, 12), mark("2024-06-01T00:00:00Z")); n != 2 {
		t.Fatalf("retry added %d", n)
	}
	if v, _, _ := w.Watermark(e.ctx, key); !v.Equal(mustTime(t, "2024-06-01T00:00:00Z")) {
		t.Errorf("watermark = %v", v)
	}
	if len(e.sameRows(db, "events")) != 12 {
		t.Error("want 12 rows")
	}
	// The manifest lists exactly the files on disk.
	if got, want := manifestPaths(t, db, "events"), prefixAll("events/", parquetFiles(t, filepath.Join(e.pq(), "events"))); !slices.Equal(got, want) {
		t.Errorf("manifest %q, files %q", got, want)
	}
}

func TestConcurrentAppends(t *testing.T) { forEachTree(t, testConcurrentAppends) }

func testConcurrentAppends(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	for g := range 4 {
		wg.Go(func() {
			for i := range 5 {
				// Goroutines overlap: ids (g*5+i)*10 .. +19.
				var ids []int
				for id := (g*5 + i) * 10; id < (g*5+i)*10+20; id++ {
					ids = append(ids, id)
				}
				rec := buildRecord(t, e.alloc, schemas.Events, events(t, "2024-03-01T00:00:00Z", ids...)...)
				n, err := w.AppendFacts(e.ctx, schemas.Events, rec)
				rec.Release()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	rows := e.sameRows(w.DB(), "events")
	if int64(len(rows)) != total || total != 210 {
		t.Errorf("added %d, stored %d, want 210", total, len(rows))
	}
}

func TestWatermarks(t *testing.T) {
	e := newEnv(t)
	w := e.open("run1")
	defer e.close(w)
	k1 := WatermarkKey{"p", "group:1", "label_events"}
	k2 := WatermarkKey{"p", "", "events"}
	if _, ok, err := w.Watermark(e.ctx, k1); ok || err != nil {
		t.Fatalf("missing watermark: %v %v", ok, err)
	}
	v := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
	if err := w.SetWatermarks(e.ctx, Watermark{k1, v}, Watermark{k2, v.Add(time.Hour)}, Watermark{k1, v.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := w.Watermark(e.ctx, k1)
	if err != nil || !ok || !got.Equal(v.Add(time.Minute).Truncate(time.Microsecond)) || got.Location() != time.UTC {
		t.Errorf("watermark = %v %v %v", got, ok, err)
	}
	all, err := w.Watermarks(e.ctx)
	if err != nil || len(all) != 2 || all[0].WatermarkKey != k2 || all[1].WatermarkKey != k1 {
		t.Errorf("watermarks = %v %v", all, err)
	}
	if err := w.SetWatermarks(e.ctx, Watermark{k1, time.Time{}}); err == nil {
		t.Error("zero watermark accepted")
	}
	if r := query(t, w.DB(), "SELECT run_id FROM _labtrail_watermarks"); !slices.Equal(r, []string{"run1", "run1"}) {
		t.Errorf("run ids %q", r)
	}
}

func TestLock(t *testing.T) {
	e := newEnv(t)
	w := e.open("run1")
	_, err := Open(e.ctx, e.opts("run2"))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "another labtrail is writing to this warehouse") ||
		!strings.Contains(err.Error(), e.opts("").DuckDBPath) {
		t.Errorf("message %q", err)
	}
	t.Log(err)
	e.close(w)
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Watermarks(e.ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if err := w.SetWatermarks(e.ctx, Watermark{WatermarkKey{"a", "b", "c"}, time.Now()}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	w2 := e.open("run2")
	e.close(w2)
}

// TestCrashRecovery leaves behind what a crash between the rename of a
// batch's files and the DuckDB COMMIT leaves (files no manifest row owns),
// plus junk in .staging, and checks that the next Open removes them.
func TestCrashRecovery(t *testing.T) { forEachTree(t, testCrashRecovery) }

func testCrashRecovery(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	e.mustAppend(w, schemas.Events, events(t, "2024-03-01T00:00:00Z", 1, 2, 3))
	e.mustAppend(w, schemas.LabelEvents, []row{{"id": 1, "created_at": mustTime(t, "2024-03-01T00:00:00Z")}})

	// The crashing batch: a hook snapshots the renamed files just before
	// COMMIT and fails; restoring the snapshot afterwards recreates the
	// state a crash at that moment leaves (uncommitted DuckDB transaction
	// gone, files in place).
	snapshot := map[string][]byte{}
	w.hook = func(point string) error {
		if point != "commit duckdb" {
			return nil
		}
		pq := e.pq()
		for _, f := range parquetFiles(t, pq) {
			b, err := os.ReadFile(filepath.Join(pq, f))
			if err != nil {
				return err
			}
			snapshot[f] = b
		}
		return errors.New("crash")
	}
	mark := Watermark{WatermarkKey{"p", "s", "events"}, mustTime(t, "2024-04-01T00:00:00Z")}
	if _, err := e.append(w, schemas.Events, append(events(t, "2024-03-01T00:00:00Z", 3, 4), events(t, "2024-04-01T00:00:00Z", 5)...), mark); err == nil {
		t.Fatal("the crashing batch succeeded")
	}
	w.hook = nil
	e.close(w)
	for f, b := range snapshot {
		e.putTreeFile(f, b)
	}
	// Junk in .staging (a directory's only), an orphan in a partition of
	// its own, a copy of a committed file (same rows under another name).
	if e.s3 == nil {
		mustWrite(t, filepath.Join(e.pq(), ".staging", "events", "created_month=2024-03", "run1-000099.parquet"), "half a file")
		mustWrite(t, filepath.Join(e.pq(), ".staging", "junk"), "junk")
	}
	pq := e.pq()
	committed := parquetFiles(t, filepath.Join(pq, "events"))
	b, err := os.ReadFile(filepath.Join(pq, "events", committed[0]))
	if err != nil {
		t.Fatal(err)
	}
	e.putTreeFile("events/created_month=2030-01/crashed-000001.parquet", b)

	mem := memDB(t)
	if n := queryInt(t, mem, "SELECT count(*) - count(DISTINCT id) FROM "+e.parquetGlob("events")); n == 0 {
		t.Fatal("the simulated crash left no duplicate; the test proves nothing")
	}

	w = e.open("run2")
	defer e.close(w)
	if _, err := os.Stat(filepath.Join(e.pq(), ".staging")); !os.IsNotExist(err) {
		t.Errorf(".staging survived: %v", err)
	}
	rows := e.sameRows(w.DB(), "events")
	if len(rows) != 3 {
		t.Errorf("events = %q", rows)
	}
	if got, want := manifestPaths(t, w.DB(), "events"), prefixAll("events/", parquetFiles(t, filepath.Join(e.pq(), "events"))); !slices.Equal(got, want) {
		t.Errorf("manifest %q, files %q", got, want)
	}
	if _, ok, _ := w.Watermark(e.ctx, mark.WatermarkKey); ok {
		t.Error("the crashed batch's watermark was stored")
	}
	e.sameRows(w.DB(), "label_events")
	// Fetched again, the rows go in once, under the new run's names.
	if n := e.mustAppend(w, schemas.Events, append(events(t, "2024-03-01T00:00:00Z", 3, 4), events(t, "2024-04-01T00:00:00Z", 5)...), mark); n != 2 {
		t.Errorf("re-fetched batch added %d, want 2", n)
	}
	if rows := e.sameRows(w.DB(), "events"); len(rows) != 5 {
		t.Errorf("events = %q", rows)
	}
}

func mustWrite(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, to, string(b))
}

func TestFileNamesDoNotCollideAcrossOpens(t *testing.T) {
	forEachTree(t, testFileNamesDoNotCollideAcrossOpens)
}

func testFileNamesDoNotCollideAcrossOpens(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	// The same run id twice (a caller reusing ids) must not overwrite files.
	for i := range 3 {
		w := e.open("same run/id")
		e.mustAppend(w, schemas.Events, events(t, "2024-03-01T00:00:00Z", i*10+1, i*10+2))
		e.close(w)
	}
	w := e.open("")
	defer e.close(w)
	if !strings.Contains(w.RunID(), "-") {
		t.Errorf("generated run id %q", w.RunID())
	}
	files := parquetFiles(t, filepath.Join(e.pq(), "events"))
	want := []string{"created_month=2024-03/same_run_id-000001.parquet", "created_month=2024-03/same_run_id-000002.parquet", "created_month=2024-03/same_run_id-000003.parquet"}
	if !slices.Equal(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	if rows := e.sameRows(w.DB(), "events"); len(rows) != 6 {
		t.Errorf("rows %q", rows)
	}
}

func TestRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	rec := buildRecord(t, e.alloc, schemas.LabelEvents, row{"id": 1})
	defer rec.Release()
	if _, err := w.AppendFacts(e.ctx, schemas.Events, rec); err == nil {
		t.Error("AppendFacts accepted a label_events record for events")
	}
	if _, err := w.AppendFacts(e.ctx, schemas.Users, rec); err == nil {
		t.Error("AppendFacts accepted a dimension")
	}
	if err := w.UpsertDimension(e.ctx, schemas.LabelEvents, rec); err == nil {
		t.Error("UpsertDimension accepted a fact table")
	}
	nullID := buildRecord(t, e.alloc, schemas.Events, row{"id": nil})
	defer nullID.Release()
	if _, err := w.AppendFacts(e.ctx, schemas.Events, nullID); err == nil {
		t.Error("AppendFacts accepted a null id")
	}
}

func TestRecordRunAndReadOnly(t *testing.T) {
	e := newEnv(t)
	w := e.open("run1")
	start := mustTime(t, "2024-06-01T10:00:00Z")
	r := RunRecord{RunID: "run1", Start: start, Outcome: "running", Rows: map[string]int64{}}
	if err := w.RecordRun(e.ctx, r); err != nil {
		t.Fatal(err)
	}
	r.End, r.Outcome, r.Error = start.Add(time.Minute), "partial", "p s: boom"
	r.Rows = map[string]int64{"events": 150000, "label_events": 3}
	r.Requests, r.Retries, r.Throttled, r.Bytes = 10, 2, 1, 12345
	if err := w.RecordRun(e.ctx, r); err != nil {
		t.Fatal(err)
	}
	got := query(t, w.DB(), `SELECT run_id, started_at, ended_at, outcome, error, rows_json, (rows_json->>'events')::BIGINT, requests, retries, throttled, bytes FROM _labtrail_runs`)
	want := []string{`run1|2024-06-01T10:00:00Z|2024-06-01T10:01:00Z|partial|p s: boom|{"events":150000,"label_events":3}|150000|10|2|1|12345`}
	if !slices.Equal(got, want) {
		t.Errorf("runs = %q, want %q", got, want)
	}
	e.close(w)

	db, err := OpenReadOnly(e.ctx, e.opts("").DuckDBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := queryInt(t, db, "SELECT count(*) FROM _labtrail_runs"); n != 1 {
		t.Errorf("%d runs", n)
	}
	if _, err := db.Exec("DELETE FROM _labtrail_runs"); err == nil {
		t.Error("read-only database accepted a write")
	}
	if _, err := os.Stat(e.opts("").DuckDBPath + ".lock"); err != nil {
		t.Errorf("lock file: %v", err) // left by the writer, not needed by readers
	}
	if _, err := OpenReadOnly(e.ctx, filepath.Join(e.dir, "nope.duckdb")); err == nil {
		t.Error("OpenReadOnly of a missing file succeeded")
	}
}

func TestContextCancelled(t *testing.T) { forEachTree(t, testContextCancelled) }

func testContextCancelled(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	rec := buildRecord(t, e.alloc, schemas.Events, events(t, "2024-03-01T00:00:00Z", 1, 2)...)
	defer rec.Release()
	if _, err := w.AppendFacts(ctx, schemas.Events, rec); err == nil {
		t.Error("AppendFacts with a cancelled context succeeded")
	}
	// The warehouse is still usable, and nothing was stored.
	if n := e.mustAppend(w, schemas.Events, events(t, "2024-03-01T00:00:00Z", 1, 2)); n != 2 {
		t.Errorf("added %d", n)
	}
	if rows := e.sameRows(w.DB(), "events"); len(rows) != 2 {
		t.Errorf("rows %q", rows)
	}
}

func TestManyRows(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	const batch, batches = 5000, 6
	for b := range batches {
		var rows []row
		for i := range batch {
			id := b*batch + i
			month := 1 + id%12
			rows = append(rows, event(t, id, fmt.Sprintf("2023-%02d-15T10:00:00Z", month), "pushed to"))
		}
		if n := e.mustAppend(w, schemas.Events, rows); n != batch {
			t.Fatalf("added %d", n)
		}
	}
	if n := queryInt(t, w.DB(), "SELECT count(DISTINCT id) FROM "+e.parquetGlob("events")); n != batch*batches {
		t.Errorf("%d distinct ids in Parquet", n)
	}
	if n := queryInt(t, w.DB(), "SELECT count(*) FROM events"); n != batch*batches {
		t.Errorf("%d rows in DuckDB", n)
	}
}

// Two warehouses must not share a Parquet directory: each Open would
// delete the other's files as orphans.
func TestParquetDirOfAnotherWarehouseIsRefused(t *testing.T) {
	dir := t.TempDir()
	pq := filepath.Join(dir, "parquet")
	w, err := Open(context.Background(), Options{DuckDBPath: filepath.Join(dir, "a.duckdb"), ParquetDir: pq})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Options{DuckDBPath: filepath.Join(dir, "b.duckdb"), ParquetDir: pq})
	if err == nil || !strings.Contains(err.Error(), "a.duckdb") {
		t.Fatalf("err = %v, want a refusal naming a.duckdb", err)
	}
	w, err = Open(context.Background(), Options{DuckDBPath: filepath.Join(dir, "a.duckdb"), ParquetDir: pq})
	if err != nil {
		t.Fatalf("the owner cannot reopen: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Moved together, they still belong together.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	w, err = Open(context.Background(), Options{DuckDBPath: filepath.Join(moved, "a.duckdb"), ParquetDir: filepath.Join(moved, "parquet")})
	if err != nil {
		t.Fatalf("after moving the warehouse: %v", err)
	}
	_ = w.Close()
}

// failingSink is a sink whose prepare fails where the hook says
// ("prepare failing"), and otherwise prepares nothing.
type failingSink struct{ hook func(string) error }

func (failingSink) name() string { return "failing" }

func (f failingSink) prepare(context.Context, *factBatch) (pending, error) {
	if err := f.hook("prepare failing"); err != nil {
		return nil, err
	}
	return nopPending{}, nil
}

type nopPending struct{}

func (nopPending) commit(context.Context) error { return nil }
func (nopPending) abort() error                 { return nil }
