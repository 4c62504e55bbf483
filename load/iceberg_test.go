package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go/table"

	"github.com/labtrail/labtrail/internal/pgtest"
	"github.com/labtrail/labtrail/internal/s3test"
	"github.com/labtrail/labtrail/schemas"
)

// iceBucketPrefix is where iceOpts puts the tables in e's bucket.
const iceBucketPrefix = "warehouse/lake"

// iceOpts is a SQLite catalog under e.dir and a warehouse next to the
// Parquet tree: a local directory, or a prefix of e's bucket.
func (e *env) iceOpts() *IcebergOptions {
	o := &IcebergOptions{
		Catalog: "sql", URI: filepath.Join(e.dir, "lake", "catalog.db"), Warehouse: filepath.Join(e.dir, "lake", "tables"),
		Namespace: "labtrail", SnapshotRetention: 168 * time.Hour,
	}
	if e.s3 != nil {
		o.Warehouse = "s3://" + bucketName + "/" + iceBucketPrefix
		o.ObjectStore = ObjectStore{Endpoint: e.s3.Endpoint, Region: s3test.Region, PathStyle: true}
	}
	return o
}

// iceOptsExpiringAtOnce is iceOpts with a retention of a millisecond.
func (e *env) iceOptsExpiringAtOnce() *IcebergOptions {
	o := e.iceOpts()
	o.SnapshotRetention = time.Millisecond
	return o
}

func (e *env) openIce(runID string, ice *IcebergOptions) *Warehouse {
	e.t.Helper()
	o := e.opts(runID)
	o.Iceberg = ice
	w, err := Open(e.ctx, o)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	return w
}

// iceMark is a watermark of one stream at s.
func iceMark(t testing.TB, s string) Watermark {
	return Watermark{WatermarkKey{"p", "project:1", "events"}, mustTime(t, s)}
}

// renderRows renders every row of recs as "col=value|..." in the columns
// of t, sorted.
func renderRows(t testing.TB, tbl schemas.Table, recs []arrow.RecordBatch) []string {
	t.Helper()
	var out []string
	for _, rec := range recs {
		for r := range int(rec.NumRows()) {
			var b strings.Builder
			for _, f := range tbl.Schema.Fields() {
				idx := rec.Schema().FieldIndices(f.Name)
				if len(idx) == 0 {
					t.Fatalf("%s: no column %s in %s", tbl.Name, f.Name, rec.Schema())
				}
				col := rec.Column(idx[0])
				v := "NULL"
				if col.IsValid(r) {
					v = col.ValueStr(r)
				}
				fmt.Fprintf(&b, "%s=%s|", f.Name, v)
			}
			out = append(out, b.String())
		}
	}
	slices.Sort(out)
	return out
}

// duckRows is every row of t in DuckDB, rendered.
func (e *env) duckRows(w *Warehouse, t schemas.Table) []string {
	e.t.Helper()
	var recs []arrow.RecordBatch
	err := w.duck.scanTable(e.ctx, t, e.alloc, 1000, func(rec arrow.RecordBatch) error {
		rec.Retain()
		recs = append(recs, rec)
		return nil
	})
	defer releaseAll(recs)
	if err != nil {
		e.t.Fatal(err)
	}
	return renderRows(e.t, t, recs)
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// iceRows is every row of t in Iceberg at snapshot id (0: the current
// one), read with iceberg-go's scanner, rendered.
func (e *env) iceRows(w *Warehouse, t schemas.Table, id int64) []string {
	e.t.Helper()
	tbl, err := w.ice.load(e.ctx, t)
	if err != nil {
		e.t.Fatal(err)
	}
	return iceScanRows(e.t, e.ctx, tbl, t, id)
}

func iceScanRows(t testing.TB, ctx context.Context, tbl *table.Table, st schemas.Table, id int64) []string {
	t.Helper()
	if id == 0 {
		if tbl.CurrentSnapshot() == nil {
			return nil
		}
		id = tbl.CurrentSnapshot().SnapshotID
	}
	_, it, err := tbl.Scan(table.WithSnapshotID(id)).ToArrowRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var recs []arrow.RecordBatch
	for rec, err := range it {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	defer releaseAll(recs)
	return renderRows(t, st, recs)
}

// sameInIceberg fails unless every table holds the same rows in Iceberg
// as in DuckDB, no snapshot a reader could see holds a row twice, and no
// snapshot of a fact table holds a row DuckDB does not have.
func (e *env) sameInIceberg(w *Warehouse) {
	e.t.Helper()
	for _, t := range schemas.All() {
		want, got := e.duckRows(w, t), e.iceRows(w, t, 0)
		if !slices.Equal(got, want) {
			e.t.Errorf("%s: Iceberg has %d rows, DuckDB %d\niceberg: %q\nduckdb:  %q", t.Name, len(got), len(want), got, want)
		}
		tbl, err := w.ice.load(e.ctx, t)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, s := range tbl.Metadata().Snapshots() {
			rows := e.iceRows(w, t, s.SnapshotID)
			if dup := slices.Compact(slices.Clone(rows)); len(dup) != len(rows) {
				e.t.Errorf("%s: snapshot %d holds a row twice", t.Name, s.SnapshotID)
			}
			if t.Kind != schemas.Fact {
				continue // an older snapshot of a dimension holds older rows
			}
			for _, r := range rows {
				if _, ok := slices.BinarySearch(want, r); !ok {
					e.t.Errorf("%s: snapshot %d holds a row DuckDB does not: %s", t.Name, s.SnapshotID, r)
				}
			}
		}
	}
}

// A failure at every point of the fact write protocol, followed by a
// reopen (recovery) and the retry a run would make, ends with the same rows
// in Iceberg as in DuckDB: nothing doubled, nothing lost, no stray file.
func TestIcebergFactsSurviveAFailureAtEveryPoint(t *testing.T) {
	points := []string{"commit parquet", "commit iceberg", "commit duckdb", "committed duckdb", "publish iceberg", "published iceberg"}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t)
			defer e.alloc.AssertSize(t, 0)
			w := e.openIce("run1", e.iceOpts())
			e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 1, 2, 3), iceMark(t, "2024-03-05T10:00:00Z"))
			hit := false
			w.hook = func(p string) error {
				if p == point {
					hit = true
					return errors.New("injected failure")
				}
				return nil
			}
			_, err := e.append(w, schemas.Events, append(events(t, "2024-03-06T10:00:00Z", 4, 5), events(t, "2024-04-01T00:00:00Z", 6)...),
				iceMark(t, "2024-04-01T00:00:00Z"))
			if !hit {
				t.Fatalf("point %q never reached", point)
			}
			w.hook = nil
			committed := err == nil
			if !committed && !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("err = %v", err)
			}
			e.close(w)

			// The next run: recovery on Open, then the rows again (a
			// committed batch moved the watermark; they are dropped by id).
			w = e.openIce("run2", e.iceOpts())
			defer e.close(w)
			if n := queryInt(t, w.DB(), "SELECT count(*) FROM _labtrail_iceberg_pending"); n != 0 {
				t.Errorf("%d batches still pending after Open", n)
			}
			if n := e.mustAppend(w, schemas.Events, append(events(t, "2024-03-06T10:00:00Z", 4, 5), events(t, "2024-04-01T00:00:00Z", 6)...),
				iceMark(t, "2024-04-01T00:00:00Z")); committed != (n == 0) {
				t.Errorf("retry added %d rows, first attempt committed: %v", n, committed)
			}
			e.sameInIceberg(w)
			if got := len(e.iceRows(w, schemas.Events, 0)); got != 6 {
				t.Errorf("Iceberg events has %d rows, want 6", got)
			}
			// No data file outside the snapshots: orphans were removed.
			e.noUnlistedFiles(w, schemas.Events)
		})
	}
}

// noUnlistedFiles fails if t's data directory holds a file no snapshot
// lists.
func (e *env) noUnlistedFiles(w *Warehouse, t schemas.Table) {
	e.t.Helper()
	tbl, err := w.ice.load(e.ctx, t)
	if err != nil {
		e.t.Fatal(err)
	}
	listed, err := referencedFiles(e.ctx, tbl)
	if err != nil {
		e.t.Fatal(err)
	}
	stored := e.iceDataFiles(t)
	for f := range stored {
		if !listed[f] {
			e.t.Errorf("%s: data file %s is listed by no snapshot", t.Name, f)
		}
	}
	if len(stored) == 0 {
		e.t.Errorf("%s: no data files at all", t.Name)
	}
}

// iceDataFiles maps every file under t's Iceberg data directory, named as
// manifests name it (a file:// or s3:// URL), to a local copy: the file
// itself, or for a bucket a fresh download through the S3 API.
func (e *env) iceDataFiles(t schemas.Table) map[string]string {
	e.t.Helper()
	rel := "labtrail/" + t.Name + "/data"
	root, url := filepath.Join(e.dir, "lake", "tables", filepath.FromSlash(rel)), "file://"+filepath.ToSlash(filepath.Join(e.dir, "lake", "tables", filepath.FromSlash(rel)))
	if e.s3 != nil {
		e.mirrors++
		root = filepath.Join(e.dir, fmt.Sprintf("ice-mirror-%d", e.mirrors))
		url = "s3://" + bucketName + "/" + iceBucketPrefix + "/" + rel
		if err := s3test.Download(e.ctx, e.s3.Client(), bucketName, iceBucketPrefix+"/"+rel, root); err != nil {
			e.t.Fatal(err)
		}
	}
	out := map[string]string{}
	err := filepath.WalkDir(root, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		r, err := filepath.Rel(root, name)
		out[url+"/"+filepath.ToSlash(r)] = name
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.t.Fatal(err)
	}
	return out
}

// putIceFile writes data at file (a URL iceDataFiles returns) behind the
// warehouse's back, as another writer would.
func (e *env) putIceFile(file string, data []byte) {
	e.t.Helper()
	if e.s3 == nil {
		mustWrite(e.t, strings.TrimPrefix(file, "file://"), string(data))
		return
	}
	if err := s3test.Upload(e.ctx, e.s3.Client(), bucketName, strings.TrimPrefix(file, "s3://"+bucketName+"/"), data); err != nil {
		e.t.Fatal(err)
	}
}

// A labtrail killed before DuckDB's commit leaves the batch's Iceberg data
// files behind (nothing aborted them); the next Open, on a local or an
// s3:// warehouse, deletes exactly those: not the files snapshots list,
// not another writer's file beside them (a batch it may be about to
// commit).
func TestIcebergOpenRemovesOrphansOfAKilledBatch(t *testing.T) {
	forEachTree(t, testIcebergOpenRemovesOrphansOfAKilledBatch)
}

func testIcebergOpenRemovesOrphansOfAKilledBatch(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	killChild(t, e, "commit duckdb")
	cat, closeCat, err := OpenIcebergCatalog(e.ctx, *e.iceOpts())
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(e.ctx, table.Identifier{"labtrail", schemas.Events.Name})
	if err != nil {
		t.Fatal(errors.Join(err, closeCat()))
	}
	refs, err := referencedFiles(e.ctx, tbl)
	if err = errors.Join(err, closeCat()); err != nil {
		t.Fatal(err)
	}
	stored := e.iceDataFiles(schemas.Events)
	var listed []string
	for f := range stored {
		if refs[f] {
			listed = append(listed, f)
		}
	}
	if len(listed) != 1 || len(stored) != 3 {
		t.Fatalf("before Open: data files %q, listed %q; want the first batch's listed and the killed batch's two (one per month)",
			slices.Sorted(maps.Keys(stored)), listed)
	}
	// Another writer's file: a copy of the listed one under its own owner
	// prefix.
	data, err := os.ReadFile(stored[listed[0]])
	if err != nil {
		t.Fatal(err)
	}
	theirs := listed[0][:strings.LastIndex(listed[0], "/")+1] + "00000-0-" + newWriteUUID(newOwnerPrefix()).String() + "-00001.parquet"
	e.putIceFile(theirs, data)

	w := e.openIce("run2", e.iceOpts())
	defer e.close(w)
	got := slices.Sorted(maps.Keys(e.iceDataFiles(schemas.Events)))
	if want := slices.Sorted(slices.Values([]string{listed[0], theirs})); !slices.Equal(got, want) {
		t.Errorf("data files after Open: %q, want %q", got, want)
	}
	e.mustAppend(w, schemas.Events, killBatch(t), iceMark(t, "2024-04-01T00:00:00Z"))
	e.sameInIceberg(w)
	if got := len(e.iceRows(w, schemas.Events, 0)); got != 6 {
		t.Errorf("Iceberg events has %d rows, want 6", got)
	}
}

// The batch id in the snapshot summary is what recovery trusts: a pending
// row whose batch is already in the table is forgotten, not appended again.
func TestIcebergSnapshotSummaryCarriesTheBatch(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.openIce("run1", e.iceOpts())
	defer e.close(w)
	e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 1, 2), iceMark(t, "2024-03-05T10:00:00Z"))
	tbl, err := w.ice.load(e.ctx, schemas.Events)
	if err != nil {
		t.Fatal(err)
	}
	s := tbl.CurrentSnapshot()
	if s == nil || s.Summary == nil {
		t.Fatal("no snapshot")
	}
	p := s.Summary.Properties
	if p[summaryRunID] != "run1" || p[summaryBatchID] == "" || !strings.Contains(p[summaryWatermarks], "2024-03-05T10:00:00Z") {
		t.Errorf("summary %v lacks the run, batch or watermark", p)
	}
	if !strings.Contains(p[summaryBatchID], w.ice.owner) {
		t.Errorf("batch id %s does not carry the owner prefix %s", p[summaryBatchID], w.ice.owner)
	}
}

// Dimensions are replaced as one overwrite snapshot per run; compaction
// merges the small files of a partition in one replace snapshot; in every
// snapshot of every table the rows are those DuckDB had, never doubled.
func TestIcebergDimensionsAndCompaction(t *testing.T) {
	forEachTree(t, testIcebergDimensionsAndCompaction)
}

func testIcebergDimensionsAndCompaction(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	w := e.openIce("run1", e.iceOpts())
	defer e.close(w)
	for i := range 4 {
		e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 10*i+1, 10*i+2), iceMark(t, "2024-03-05T10:00:00Z"))
	}
	e.mustAppend(w, schemas.Events, events(t, "2024-05-05T10:00:00Z", 99), iceMark(t, "2024-05-05T10:00:00Z"))
	e.upsert(w, schemas.Issues, row{"id": 5, "iid": 1, "title": "old", "assignee_ids": []int64{3, 4}, "labels": []string{"bug"}})
	if err := w.PublishDimensions(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.sameInIceberg(w)
	e.upsert(w, schemas.Issues, row{"id": 5, "iid": 1, "title": "new", "assignee_ids": []int64{3}, "labels": []string{"bug", "p1"}})
	if err := w.PublishDimensions(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.sameInIceberg(w)
	issues, err := w.ice.load(e.ctx, schemas.Issues)
	if err != nil {
		t.Fatal(err)
	}
	if op := issues.CurrentSnapshot().Summary.Operation; op != table.OpOverwrite {
		t.Errorf("dimension publish is a %s snapshot, want overwrite", op)
	}
	stats, err := w.Compact(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.IcebergPartitions != 1 || stats.IcebergFilesRemoved != 4 || stats.IcebergRows != 8 {
		t.Errorf("iceberg compaction %+v, want 1 partition, 4 files, 8 rows", stats)
	}
	ev, err := w.ice.load(e.ctx, schemas.Events)
	if err != nil {
		t.Fatal(err)
	}
	if op := ev.CurrentSnapshot().Summary.Operation; op != table.OpReplace {
		t.Errorf("compaction is a %s snapshot, want replace", op)
	}
	tasks, err := ev.Scan().PlanFiles(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 {
		t.Errorf("%d data files after compaction, want 2 (one per month)", len(tasks))
	}
	e.sameInIceberg(w)
	// Compacting again finds nothing to do.
	if stats, err := w.Compact(e.ctx); err != nil || stats.IcebergPartitions != 0 {
		t.Errorf("second compaction: %+v, %v", stats, err)
	}
}

// Expiry drops snapshots older than the retention, keeping the current one
// and its rows.
func TestIcebergExpiresOldSnapshots(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	ice := e.iceOptsExpiringAtOnce()
	w := e.openIce("run1", ice)
	defer e.close(w)
	for i := range 3 {
		e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", i+1), iceMark(t, "2024-03-05T10:00:00Z"))
	}
	time.Sleep(5 * time.Millisecond) // the snapshots must be older than the retention
	if err := w.PublishDimensions(e.ctx); err != nil {
		t.Fatal(err)
	}
	ev, err := w.ice.load(e.ctx, schemas.Events)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ev.Metadata().Snapshots()); n != 1 {
		t.Errorf("%d snapshots after expiry, want 1", n)
	}
	e.sameInIceberg(w)
}

// Two warehouses (shards with their own DuckDB files) append to the same
// Iceberg tables at once: every commit race is retried, nothing is lost.
func TestIcebergTwoWritersRace(t *testing.T) {
	testTwoWriters(t, nil)
}

func testTwoWriters(t *testing.T, ice func(e *env) *IcebergOptions) {
	base := newEnv(t)
	opts := base.iceOpts()
	if ice != nil {
		opts = ice(base)
	}
	const batches = 8
	es, ws := openShards(t, base, opts)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range ws {
		wg.Go(func() {
			for b := range batches {
				id := 1000*(i+1) + b
				rec := buildRecord(t, es[i].alloc, schemas.Events, events(t, "2024-03-05T10:00:00Z", id)...)
				_, err := ws[i].AppendFacts(es[i].ctx, schemas.Events, rec, iceMark(t, "2024-03-05T10:00:00Z"))
				rec.Release()
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range ws {
		if n := queryInt(t, ws[i].DB(), "SELECT count(*) FROM _labtrail_iceberg_pending"); n != 0 {
			t.Errorf("shard %d: %d batches still pending", i, n)
		}
	}
	got := es[0].iceRows(ws[0], schemas.Events, 0)
	want := append(es[0].duckRows(ws[0], schemas.Events), es[1].duckRows(ws[1], schemas.Events)...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Iceberg has %d rows, the shards %d", len(got), len(want))
	}
	for i := range ws {
		es[i].close(ws[i])
		es[i].alloc.AssertSize(t, 0)
	}
}

// openShards opens two warehouses, each with its own DuckDB file under
// base's directory, writing to the Iceberg tables of opts: two shards.
func openShards(t *testing.T, base *env, opts *IcebergOptions) ([2]*env, [2]*Warehouse) {
	var es [2]*env
	var ws [2]*Warehouse
	for i := range ws {
		es[i] = newEnv(t)
		es[i].dir = filepath.Join(base.dir, fmt.Sprintf("shard%d", i))
		ws[i] = es[i].openIce(fmt.Sprintf("shard%d", i), opts)
	}
	return es, ws
}

// The same race, and the round trip, with PostgreSQL as the catalog.
func TestIcebergPostgresCatalog(t *testing.T) {
	uri := pgtest.Start(t)
	testTwoWriters(t, func(e *env) *IcebergOptions {
		o := e.iceOpts()
		o.URI = uri
		return o
	})
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	o := e.iceOpts()
	o.URI, o.Namespace = uri, "second"
	w := e.openIce("run1", o)
	defer e.close(w)
	e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 1, 2), iceMark(t, "2024-03-05T10:00:00Z"))
	e.upsert(w, schemas.Issues, row{"id": 5, "iid": 1, "title": "t", "assignee_ids": []int64{3}, "labels": []string{"bug"}})
	if err := w.PublishDimensions(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.sameInIceberg(w)
}

// Open deletes data files of this warehouse no snapshot lists (a batch
// whose DuckDB transaction died with the process), and leaves alone the
// files of other writers, which may be a batch they are about to commit.
func TestIcebergOpenRemovesOnlyItsOwnOrphans(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.openIce("run1", e.iceOpts())
	e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 1), iceMark(t, "2024-03-05T10:00:00Z"))
	owner := w.ice.owner
	e.close(w)
	dir := filepath.Join(e.dir, "lake", "tables", "labtrail", "events", "data", "created_month=2024-03")
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil || len(files) != 1 {
		t.Fatalf("data files %q, %v", files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(dir, "00000-0-"+newWriteUUID(owner).String()+"-00001.parquet")
	theirs := filepath.Join(dir, "00000-0-"+newWriteUUID(newOwnerPrefix()).String()+"-00001.parquet")
	for _, f := range []string{mine, theirs} {
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w = e.openIce("run2", e.iceOpts())
	defer e.close(w)
	if _, err := os.Stat(mine); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("this warehouse's orphan survived Open: %v", err)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("another writer's file was touched: %v", err)
	}
	if _, err := os.Stat(files[0]); err != nil {
		t.Errorf("a committed file was deleted: %v", err)
	}
	e.sameInIceberg(w)
}

// A failed append past DuckDB's commit point does not fail the batch (its
// rows are stored): it stays pending and the next batch publishes it.
func TestIcebergFailedAppendIsPublishedByTheNextBatch(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.openIce("run1", e.iceOpts())
	defer e.close(w)
	w.hook = func(p string) error {
		if p == "publish iceberg" {
			return errors.New("injected failure")
		}
		return nil
	}
	if n := e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 1, 2), iceMark(t, "2024-03-05T10:00:00Z")); n != 2 {
		t.Fatalf("added %d", n)
	}
	w.hook = nil
	if n := queryInt(t, w.DB(), "SELECT count(*) FROM _labtrail_iceberg_pending"); n != 1 {
		t.Fatalf("%d pending, want 1", n)
	}
	if got := e.iceRows(w, schemas.Events, 0); len(got) != 0 {
		t.Fatalf("Iceberg shows %d rows before the append", len(got))
	}
	if _, err := w.AppendFacts(e.ctx, schemas.Events, nil, iceMark(t, "2024-03-06T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, w.DB(), "SELECT count(*) FROM _labtrail_iceberg_pending"); n != 0 {
		t.Errorf("%d still pending", n)
	}
	e.sameInIceberg(w)
}

// A pending batch whose append happened but whose snapshot has expired
// since (a long-dead run, another shard expiring snapshots) is recognised
// by its files in the table, not appended a second time.
func TestIcebergRecoveryAfterTheBatchSnapshotExpired(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	ice := e.iceOptsExpiringAtOnce()
	w := e.openIce("run1", ice)
	e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 1, 2), iceMark(t, "2024-03-05T10:00:00Z"))
	tbl, err := w.ice.load(e.ctx, schemas.Events)
	if err != nil {
		t.Fatal(err)
	}
	first := tbl.CurrentSnapshot()
	cur, err := currentFiles(e.ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	files := slices.Sorted(maps.Keys(cur))
	e.mustAppend(w, schemas.Events, events(t, "2024-03-05T11:00:00Z", 3), iceMark(t, "2024-03-05T11:00:00Z"))
	time.Sleep(5 * time.Millisecond)
	if err := w.ice.expire(e.ctx, schemas.Events); err != nil {
		t.Fatal(err)
	}
	if tbl, err = w.ice.load(e.ctx, schemas.Events); err != nil || tbl.SnapshotByID(first.SnapshotID) != nil {
		t.Fatalf("the first batch's snapshot was not expired (%v)", err)
	}
	// The pending row of the first batch, as a run killed between the
	// append and the deletion of the row leaves it.
	if _, err := w.DB().ExecContext(e.ctx, `INSERT INTO _labtrail_iceberg_pending VALUES (?, 'events', ?::VARCHAR[], ?, 'run1', now())`,
		first.Summary.Properties[summaryBatchID], files, `{"labtrail.batch-id":"`+first.Summary.Properties[summaryBatchID]+`"}`); err != nil {
		t.Fatal(err)
	}
	e.close(w)
	w = e.openIce("run2", ice)
	defer e.close(w)
	if n := queryInt(t, w.DB(), "SELECT count(*) FROM _labtrail_iceberg_pending"); n != 0 {
		t.Errorf("%d still pending", n)
	}
	e.sameInIceberg(w)
}

// Two shards publish the dimensions they hold into the same Iceberg
// tables: each replaces only the rows of its own ids (a bridge's parents),
// so the tables hold every shard's rows, one per id, and a row two shards
// hold (a user both saw) is the last publisher's; a second publish by one
// shard, after a change, replaces its rows and its bridge rows only, a
// parent whose list became empty losing its old bridge rows.
func TestIcebergShardsShareDimensions(t *testing.T) {
	base := newEnv(t)
	opts := base.iceOpts()
	opts.SharedDimensions = true
	es, ws := openShards(t, base, opts)
	es[0].upsert(ws[0], schemas.Users, row{"id": 1, "username": "ann"}, row{"id": 2, "username": "bob"})
	es[1].upsert(ws[1], schemas.Users, row{"id": 2, "username": "bob"}, row{"id": 3, "username": "cy"})
	es[0].upsert(ws[0], schemas.Issues, row{"id": 10, "iid": 1, "assignee_ids": []int64{1, 2}})
	es[1].upsert(ws[1], schemas.Issues, row{"id": 20, "iid": 1, "assignee_ids": []int64{3}})
	publish := func(i int) {
		t.Helper()
		if err := ws[i].PublishDimensions(es[i].ctx); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	ids := func(tb schemas.Table, cols string) []string {
		t.Helper()
		var out []string
		for _, r := range es[0].iceRows(ws[0], tb, 0) {
			out = append(out, strings.Join(strings.Split(r, "|")[:strings.Count(cols, ",")+1], "|"))
		}
		slices.Sort(out)
		return out
	}
	publish(0)
	publish(1)
	if got, want := ids(schemas.Users, "id, username"), []string{"id=1|username=ann", "id=2|username=bob", "id=3|username=cy"}; !slices.Equal(got, want) {
		t.Errorf("users after both shards: %q, want %q", got, want)
	}
	if got, want := ids(schemas.IssueAssignees, "issue_id, user_id"), []string{"issue_id=10|user_id=1", "issue_id=10|user_id=2", "issue_id=20|user_id=3"}; !slices.Equal(got, want) {
		t.Errorf("issue_assignees after both shards: %q, want %q", got, want)
	}
	es[0].upsert(ws[0], schemas.Issues, row{"id": 10, "iid": 1, "assignee_ids": []int64{}})
	publish(0)
	if got, want := ids(schemas.IssueAssignees, "issue_id, user_id"), []string{"issue_id=20|user_id=3"}; !slices.Equal(got, want) {
		t.Errorf("issue_assignees after shard 0 republished: %q, want %q", got, want)
	}
	if got, want := ids(schemas.Issues, "id"), []string{"id=10", "id=20"}; !slices.Equal(got, want) {
		t.Errorf("issues: %q, want %q", got, want)
	}
	for i := range ws {
		es[i].close(ws[i])
		es[i].alloc.AssertSize(t, 0)
	}
}

// Two shards compacting the same partition at once: the one whose commit
// finds the files it rewrote already replaced (iceberg-go's "commit
// diverged") reloads, finds nothing left to merge, and succeeds; its
// merged file is deleted, and every row is there once.
func TestIcebergConcurrentCompactionsConverge(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.openIce("run1", e.iceOpts())
	defer e.close(w)
	for i := range 3 {
		e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 10*i+1, 10*i+2), iceMark(t, "2024-03-05T10:00:00Z"))
	}
	other := e.openLake(e.iceOpts())
	other.alloc, other.owner = e.alloc, newOwnerPrefix()
	raced := 0
	w.hook = raceAt("commit iceberg compaction", &raced, func() error {
		_, _, _, err := other.compact(e.ctx, schemas.Events)
		return err
	})
	stats, err := w.Compact(e.ctx)
	w.hook = nil
	if err != nil {
		t.Fatalf("the compaction that lost the race: %v", err)
	}
	if raced != 1 || stats.IcebergPartitions != 0 {
		t.Errorf("reached the commit %d times, compacted %+v; want once, nothing (the other shard merged the partition)", raced, stats)
	}
	e.sameInIceberg(w)
	e.noUnlistedFiles(w, schemas.Events)
}

// The errors of a commit another writer got in first, in every form the
// catalogs and iceberg-go's own retry return them, are lost races, which
// retryConflicts replans; others are not.
func TestIcebergLostRace(t *testing.T) {
	for _, c := range []struct {
		err  error
		lost bool
	}{
		{fmt.Errorf("commit: %w", table.ErrCommitFailed), true},
		{errors.New(`requirement failed: branch "main" has changed: expected id 1, found 2`), true},
		{errors.New("Requirement failed: current schema id has changed: expected 0, found 1"), true},
		{fmt.Errorf("rebuild manifest list for retry attempt 1: %w: 2 data file(s) to rewrite are no longer on the branch head", table.ErrCommitDiverged), true},
		{errors.New("permission denied"), false},
	} {
		if got := lostRace(c.err); got != c.lost {
			t.Errorf("lostRace(%v) = %v, want %v", c.err, got, c.lost)
		}
	}
}

// Shards start at the same moment on a fresh PostgreSQL catalog: each
// creates the catalog's tables if missing, and PostgreSQL refuses all but
// one of the concurrent CREATEs (a duplicate table, row type or catalog
// index entry). Every opener must still succeed, in every round.
func TestIcebergPostgresCatalogOpensConcurrently(t *testing.T) {
	uri := pgtest.Start(t)
	admin, err := sql.Open("pgx", uri)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	const rounds, openers = 6, 8
	for r := range rounds {
		name := fmt.Sprintf("fresh%d", r)
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		opts := IcebergOptions{Catalog: "sql", URI: u.String(), Warehouse: filepath.Join(t.TempDir(), "tables"), Namespace: "labtrail"}
		start := make(chan struct{})
		errs := make(chan error, openers)
		for range openers {
			go func() {
				<-start
				_, closeCat, err := OpenIcebergCatalog(context.Background(), opts)
				if err == nil {
					err = closeCat()
				}
				errs <- err
			}()
		}
		close(start)
		for range openers {
			if err := <-errs; err != nil {
				t.Errorf("round %d: %v", r, err)
			}
		}
	}
}
