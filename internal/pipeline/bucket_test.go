package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/internal/s3test"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
	"github.com/labtrail/labtrail/schemas"
)

// A full run then an incremental run with the Parquet tree in an S3 bucket
// (a versitygw on 127.0.0.1; credentials only in the standard AWS
// variables): after each, the objects listed under the prefix, read back,
// hold every fact table's rows exactly as DuckDB does, row for row, and as
// the server does; the manifest lists exactly the fact objects there are.
func TestFullThenIncrementalRunsIntoABucketAreExact(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	const bucket, prefix = "labtrail", "acme/parquet"
	srv.CreateBucket(t, bucket)
	h := newHarness(t, gitlabfake.Options{Seed: 11, Scale: smallScale()}, acmePipeline)
	h.cfg.Warehouse.Parquet = "s3://" + bucket + "/" + prefix
	h.cfg.Warehouse.ObjectStore = config.ObjectStore{Endpoint: srv.Endpoint, Region: s3test.Region, PathStyle: true}

	check := func(round string) {
		t.Helper()
		mirror := filepath.Join(t.TempDir(), round)
		if err := s3test.Download(context.Background(), srv.Client(), bucket, prefix, mirror); err != nil {
			t.Fatal(err)
		}
		h.withDB(func(db *sql.DB) {
			wt.CheckExact(t, db, mirror, h.fake.Data(), acmeScope(h.fake.Data()))
			wt.CheckDimensions(t, db)
			sameAsDuckDB(t, db, mirror)
		})
	}
	h.mustRun()
	check("full")
	h.fake.AddActivity(2)
	res, _ := h.mustRun()
	if res.Rows["events"] == 0 {
		t.Fatal("the incremental run added no events; the test proves nothing about it")
	}
	check("incremental")
	wt.NoTokenIn(t, h.dir, h.logs.String(), srv.SecretKey)
	wt.NoTokenIn(t, srv.Root, h.logs.String(), srv.SecretKey)
}

// sameAsDuckDB compares every fact table's rows, all columns, in DuckDB and
// in the Parquet tree copied to dir, and the manifest with the fact files.
func sameAsDuckDB(t *testing.T, db *sql.DB, dir string) {
	t.Helper()
	var files []string
	for _, tbl := range schemas.Facts() {
		if tbl.Name == schemas.AuditEvents.Name {
			continue // acmePipeline does not read audit events
		}
		got := wt.RowsOf(t, db, fmt.Sprintf("SELECT * EXCLUDE (%s) FROM read_parquet('%s', hive_partitioning = true, union_by_name = true)",
			schemas.PartitionColumn, filepath.Join(dir, tbl.Name, "**", "*.parquet")))
		want := wt.RowsOf(t, db, "SELECT * FROM "+tbl.Name)
		if len(want) == 0 {
			t.Errorf("%s: no rows in DuckDB; the comparison proves nothing", tbl.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: the bucket holds %d rows, DuckDB %d, and they differ", tbl.Name, len(got), len(want))
		}
		matches, err := filepath.Glob(filepath.Join(dir, tbl.Name, "*", "*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(dir, m)
			files = append(files, filepath.ToSlash(rel))
		}
	}
	slices.Sort(files)
	manifest := wt.RowsOf(t, db, "SELECT path FROM _labtrail_files")
	if !slices.Equal(manifest, files) {
		t.Errorf("the manifest lists %d files, the bucket holds %d fact objects", len(manifest), len(files))
	}
}
