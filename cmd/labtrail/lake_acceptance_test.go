package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/internal/pgtest"
	"github.com/labtrail/labtrail/internal/s3test"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
	"github.com/labtrail/labtrail/load"
)

// TestAcceptanceShardsIntoS3AndIceberg is the acceptance test for
// "labtrail beyond one disk", with real servers started on 127.0.0.1: a
// Versity S3 gateway holds the Parquet trees and the Iceberg warehouse,
// PostgreSQL is the Iceberg catalog. Two shards run as two labtrail
// processes at once (a full run, then one shard killed with kill -9 while
// the other commits, then both again, then an incremental run, then
// `labtrail compact` of both), all appending to the same Iceberg tables.
// After each step: the union of the shards' DuckDB files is exact against
// the server (no row missing or doubled), so are the shards' Parquet
// trees read back from the bucket, and every Iceberg table holds exactly
// the union's keys, with no snapshot a reader could travel to holding a
// row twice or a row no shard committed.
func TestAcceptanceShardsIntoS3AndIceberg(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "labtrail")
	pg := pgtest.Start(t)
	e := newE2E(t, gitlabfake.Options{Seed: 33})
	doc, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	lakeDoc := strings.Replace(string(doc), "  parquet: wh/parquet\n", "  parquet: s3://labtrail/wh\n  object_store: "+srv.ObjectStore()+
		"\n  iceberg:\n    catalog: sql\n    uri: "+pg+"\n    warehouse: s3://labtrail/lake\n    namespace: labtrail\n", 1)
	if lakeDoc == string(doc) {
		t.Fatal("the e2e config has no parquet line to replace")
	}
	if err := os.WriteFile(e.cfg, []byte(lakeDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	shards := []string{"0/2", "1/2"}
	both := func(args ...string) {
		t.Helper()
		var wg sync.WaitGroup
		outs := make([]string, len(shards))
		codes := make([]int, len(shards))
		for i, sh := range shards {
			wg.Go(func() {
				c, _, errb := e.cmd(e2eToken, append(args, "-c", e.cfg, "--shard", sh)...)
				_ = c.Run()
				codes[i], outs[i] = c.ProcessState.ExitCode(), errb.String()
			})
		}
		wg.Wait()
		for i := range shards {
			if codes[i] != exitOK {
				t.Fatalf("labtrail %s --shard %s exited %d:\n%s", args[0], shards[i], codes[i], lastLines(outs[i], 20))
			}
		}
	}
	check := func(step string) {
		t.Helper()
		var paths []string
		mirror := filepath.Join(t.TempDir(), step)
		for _, sh := range shards {
			name := "shard-" + strings.Replace(sh, "/", "-of-", 1)
			paths = append(paths, filepath.Join(e.dir, "wh", "gitlab."+name+".duckdb"))
			if err := s3test.Download(context.Background(), srv.Client(), "labtrail", "wh/"+name, filepath.Join(mirror, name)); err != nil {
				t.Fatal(err)
			}
		}
		db := wt.UnionOfShards(t, paths)
		defer db.Close()
		d := e.fake.Data()
		wt.CheckExact(t, db, filepath.Join(mirror, "*"), d, wt.ScopeOf(d, []string{"acme"}, []string{"freeorg/tool"}, []string{"alice", "root"}))
		wt.CheckDimensions(t, db)
		for i := range shards {
			if n := wt.RowsOf(t, db, fmt.Sprintf("SELECT count(*) FROM s%d._labtrail_iceberg_pending", i)); n[0] != "0" {
				t.Errorf("%s: shard %s has %s Iceberg appends pending", step, shards[i], n[0])
			}
			if n := wt.RowsOf(t, db, fmt.Sprintf("SELECT count(*) FROM s%d.events", i)); n[0] == "0" {
				t.Errorf("%s: shard %s stored no events; the test proves nothing", step, shards[i])
			}
		}
		cat, closeCat, err := load.OpenIcebergCatalog(context.Background(), load.IcebergOptions{Catalog: "sql", URI: pg,
			Warehouse: "s3://labtrail/lake", Namespace: "labtrail", SnapshotRetention: time.Hour,
			ObjectStore: load.ObjectStore{Endpoint: srv.Endpoint, Region: s3test.Region, PathStyle: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer closeCat()
		wt.CheckIceberg(t, db, cat, "labtrail")
		if t.Failed() {
			t.Fatalf("%s: not exact", step)
		}
	}

	both("run", "--no-progress")
	check("full")

	// Shard 1 killed with kill -9 while both commit, then both again.
	e.fake.AddActivity(40)
	c0, _, errb0 := e.cmd(e2eToken, "run", "-c", e.cfg, "--shard", "0/2", "--no-progress")
	if err := c0.Start(); err != nil {
		t.Fatal(err)
	}
	e.startAndStop(syscall.SIGKILL, 60, "--shard", "1/2")
	if err := c0.Wait(); err != nil {
		t.Fatalf("shard 0/2 beside the killed shard: %v\n%s", err, lastLines(errb0.String(), 20))
	}
	both("run", "--no-progress")
	check("after kill -9")

	e.fake.AddActivity(3)
	both("run", "--no-progress")
	check("incremental")

	both("compact")
	check("compact")
	wt.NoTokenIn(t, e.dir, "", e2eToken)
	wt.NoTokenIn(t, e.dir, "", srv.SecretKey)
}
