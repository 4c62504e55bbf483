package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
	"github.com/labtrail/labtrail/load"
)

// withIceberg adds a warehouse.iceberg section (SQLite catalog, local
// warehouse) to the e2e config.
func (e *e2e) withIceberg() load.IcebergOptions {
	e.t.Helper()
	doc, err := os.ReadFile(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	s := strings.Replace(string(doc), "  parquet: wh/parquet\n",
		"  parquet: wh/parquet\n  iceberg:\n    uri: lake/catalog.db\n    warehouse: lake/tables\n", 1)
	if err := os.WriteFile(e.cfg, []byte(s), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return load.IcebergOptions{Catalog: "sql", URI: filepath.Join(e.dir, "lake/catalog.db"), Warehouse: filepath.Join(e.dir, "lake/tables"),
		Namespace: "labtrail", SnapshotRetention: 168 * time.Hour}
}

// Runs killed with kill -9 at different moments, some of them between a
// batch's DuckDB commit and its Iceberg append, then one plain run: every
// Iceberg table holds exactly DuckDB's rows, and no snapshot a reader could
// see holds a row twice.
func TestKill9WithIcebergThenPlainRunIsExact(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 21})
	ice := e.withIceberg()
	e.startAndStop(syscall.SIGKILL, 150)
	e.mustRun()
	e.fake.AddActivity(12)
	for _, after := range []int{3, 90, 400} {
		e.startAndStop(syscall.SIGKILL, after)
		e.fake.AddActivity(int64(after))
	}
	e.mustRun()
	e.checkExact()
	if code, out, stderr := e.labtrail("compact", "-c", e.cfg); code != exitOK {
		t.Fatalf("compact exited %d:\n%s%s", code, out, stderr)
	}
	db, err := load.OpenReadOnly(context.Background(), filepath.Join(e.dir, "wh/gitlab.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := wt.RowsOf(t, db, "SELECT count(*) FROM _labtrail_iceberg_pending"); n[0] != "0" {
		t.Errorf("%s Iceberg appends still pending", n[0])
	}
	cat, closeCat, err := load.OpenIcebergCatalog(context.Background(), ice)
	if err != nil {
		t.Fatal(err)
	}
	defer closeCat()
	wt.CheckIceberg(t, db, cat, "labtrail")
	wt.NoTokenIn(t, e.dir, "", e2eToken)
}
