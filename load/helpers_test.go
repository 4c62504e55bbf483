package load

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/internal/s3test"
	"github.com/labtrail/labtrail/internal/testkit"
	"github.com/labtrail/labtrail/schemas"
)

// row gives some columns of a test row; the others are null, except the
// NOT NULL metadata columns, which get fixed values.
type row map[string]any

var extractedAt = time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// buildRecord builds a record of t's schema from rows.
func buildRecord(t testing.TB, mem memory.Allocator, tbl schemas.Table, rows ...row) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, tbl.Schema)
	defer b.Release()
	for _, r := range rows {
		for i, f := range tbl.Schema.Fields() {
			v, ok := r[f.Name]
			if !ok {
				switch f.Name {
				case schemas.ColExtractedAt:
					v = extractedAt
				case schemas.ColRunID:
					v = "test-run"
				}
			}
			if v == nil {
				b.Field(i).AppendNull()
				continue
			}
			switch fb := b.Field(i).(type) {
			case *array.Int64Builder:
				switch x := v.(type) {
				case int:
					fb.Append(int64(x))
				case int64:
					fb.Append(x)
				default:
					t.Fatalf("column %s: %T", f.Name, v)
				}
			case *array.StringBuilder:
				fb.Append(v.(string))
			case *array.BooleanBuilder:
				fb.Append(v.(bool))
			case *array.Date32Builder:
				fb.Append(arrow.Date32FromTime(v.(time.Time)))
			case *array.TimestampBuilder:
				ts, err := arrow.TimestampFromTime(v.(time.Time), arrow.Microsecond)
				if err != nil {
					t.Fatal(err)
				}
				fb.Append(ts)
			case *array.ListBuilder:
				fb.Append(true)
				switch x := v.(type) {
				case []int64:
					fb.ValueBuilder().(*array.Int64Builder).AppendValues(x, nil)
				case []string:
					fb.ValueBuilder().(*array.StringBuilder).AppendValues(x, nil)
				case []*int64: // a list with null elements
					vb := fb.ValueBuilder().(*array.Int64Builder)
					for _, p := range x {
						if p == nil {
							vb.AppendNull()
						} else {
							vb.Append(*p)
						}
					}
				default:
					t.Fatalf("column %s: %T", f.Name, v)
				}
			default:
				t.Fatalf("column %s: builder %T", f.Name, fb)
			}
		}
	}
	return b.NewRecordBatch()
}

// event returns an events row created at created (RFC 3339, "" = null).
func event(t testing.TB, id int, created string, action string) row {
	r := row{"id": id, "project_id": 7, "action_name": action, "author_username": "ann"}
	if created != "" {
		r["created_at"] = mustTime(t, created)
	}
	return r
}

func events(t testing.TB, created string, ids ...int) []row {
	var out []row
	for _, id := range ids {
		out = append(out, event(t, id, created, fmt.Sprintf("action-%d", id)))
	}
	return out
}

type env struct {
	t     *testing.T
	dir   string
	alloc *memory.CheckedAllocator
	ctx   context.Context
	// s3 is set when the Parquet tree is a bucket prefix on a real S3
	// server (bucketPrefix of bucketName) rather than a directory.
	s3      *s3test.Server
	mirrors int
}

const (
	bucketName   = "labtrail"
	bucketPrefix = "warehouse/parquet"
)

func newEnv(t *testing.T) *env {
	return &env{t: t, dir: t.TempDir(), alloc: memory.NewCheckedAllocator(memory.NewGoAllocator()), ctx: context.Background()}
}

// newBucketEnv is newEnv with the Parquet tree in a bucket of a versitygw
// started for t; the credentials reach the warehouse through the standard
// AWS environment variables, as they would in production.
func newBucketEnv(t *testing.T) *env {
	e := newEnv(t)
	e.s3 = s3test.Start(t)
	e.s3.Env(t)
	e.s3.CreateBucket(t, bucketName)
	return e
}

// forEachTree runs test on a directory tree and on a bucket tree.
func forEachTree(t *testing.T, test func(t *testing.T, e *env)) {
	t.Run("dir", func(t *testing.T) { test(t, newEnv(t)) })
	t.Run("bucket", func(t *testing.T) { test(t, newBucketEnv(t)) })
}

func (e *env) opts(runID string) Options {
	o := Options{
		DuckDBPath: filepath.Join(e.dir, "warehouse", "gitlab.duckdb"),
		ParquetDir: filepath.Join(e.dir, "warehouse", "parquet"),
		RunID:      runID,
		Logger:     slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Alloc:      e.alloc,
	}
	if e.s3 != nil {
		o.ParquetDir = "s3://" + bucketName + "/" + bucketPrefix
		o.ObjectStore = ObjectStore{Endpoint: e.s3.Endpoint, Region: s3test.Region, PathStyle: true}
	}
	return o
}

// pq is the Parquet tree as a local directory: the tree itself, or a fresh
// copy of every object under the bucket prefix, downloaded through the S3
// API, for DuckDB's read_parquet to read (DuckDB's httpfs cannot be
// installed here).
func (e *env) pq() string {
	if e.s3 == nil {
		return filepath.Join(e.dir, "warehouse", "parquet")
	}
	e.mirrors++
	dir := filepath.Join(e.dir, fmt.Sprintf("mirror-%d", e.mirrors))
	if err := s3test.Download(e.ctx, e.s3.Client(), bucketName, bucketPrefix, dir); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// putTreeFile writes data at rel in the tree behind the warehouse's back.
func (e *env) putTreeFile(rel string, data []byte) {
	e.t.Helper()
	if e.s3 == nil {
		mustWrite(e.t, filepath.Join(e.pq(), filepath.FromSlash(rel)), string(data))
		return
	}
	if err := s3test.Upload(e.ctx, e.s3.Client(), bucketName, bucketPrefix+"/"+rel, data); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) open(runID string) *Warehouse {
	e.t.Helper()
	w, err := Open(e.ctx, e.opts(runID))
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	return w
}

func (e *env) close(w *Warehouse) {
	e.t.Helper()
	if err := w.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
}

// appendRows builds a record from rows, appends it and releases it.
func (e *env) append(w *Warehouse, tbl schemas.Table, rows []row, marks ...Mark) (int64, error) {
	e.t.Helper()
	rec := buildRecord(e.t, e.alloc, tbl, rows...)
	defer rec.Release()
	return w.AppendFacts(e.ctx, tbl, rec, marks...)
}

func (e *env) mustAppend(w *Warehouse, tbl schemas.Table, rows []row, marks ...Mark) int64 {
	e.t.Helper()
	n, err := e.append(w, tbl, rows, marks...)
	if err != nil {
		e.t.Fatalf("AppendFacts: %v", err)
	}
	return n
}

// parquetGlob is how readers read a table's dataset.
func (e *env) parquetGlob(table string) string {
	return fmt.Sprintf("read_parquet('%s/%s/**/*.parquet', hive_partitioning = true, union_by_name = true)", e.pq(), table)
}

// memDB is an in-memory DuckDB for reading Parquet while no warehouse is open.
func memDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// query returns the rows of q, each formatted as "v1|v2|...".
func query(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	return testkit.Rows(t, db, sqlCell, q, args...)
}

// sqlCell renders a value as query does: NULL, RFC 3339 UTC instants,
// fmt.Sprint otherwise.
func sqlCell(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case nil:
		return "NULL"
	default:
		return fmt.Sprint(x)
	}
}

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// sameRows checks that DuckDB's table and the Parquet dataset hold the same
// rows, each id once, and returns them.
func (e *env) sameRows(db *sql.DB, table string) []string {
	e.t.Helper()
	fromDuck := query(e.t, db, fmt.Sprintf("SELECT * FROM %s ORDER BY id", table))
	fromParquet := query(e.t, db, fmt.Sprintf("SELECT * EXCLUDE (%s) FROM %s ORDER BY id", schemas.PartitionColumn, e.parquetGlob(table)))
	if !slices.Equal(fromDuck, fromParquet) {
		e.t.Fatalf("%s: DuckDB and Parquet differ\nduckdb:  %q\nparquet: %q", table, fromDuck, fromParquet)
	}
	if dups := query(e.t, db, fmt.Sprintf("SELECT id, count(*) FROM %s GROUP BY id HAVING count(*) > 1", e.parquetGlob(table))); len(dups) > 0 {
		e.t.Fatalf("%s: ids stored more than once in Parquet: %q", table, dups)
	}
	return fromDuck
}

// parquetFiles lists the *.parquet files under dir, relative to it.
func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func manifestPaths(t *testing.T, db *sql.DB, table string) []string {
	return query(t, db, "SELECT path FROM _labtrail_files WHERE table_name = ? ORDER BY path", table)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// mustOpenDuckDB opens the DuckDB file at path (creating its directory)
// outside any Warehouse, to leave what an older labtrail would have.
func mustOpenDuckDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// upsert builds a record from rows and upserts it into dimension tbl.
func (e *env) upsert(w *Warehouse, tbl schemas.Table, rows ...row) {
	e.t.Helper()
	rec := buildRecord(e.t, e.alloc, tbl, rows...)
	defer rec.Release()
	if err := w.UpsertDimension(e.ctx, tbl, rec); err != nil {
		e.t.Fatal(err)
	}
}
