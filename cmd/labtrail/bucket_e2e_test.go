package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/internal/s3test"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
)

// The Parquet tree in an S3 bucket (versitygw on 127.0.0.1, credentials in
// the AWS variables the labtrail processes inherit): runs killed with
// kill -9 mid-way leave uploaded objects no commit lists; a plain run, then
// `labtrail compact`, leave every table exact in the objects listed under
// the prefix, one object per partition, and the secret in no file.
func TestKill9IntoABucketThenRunAndCompactAreExact(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "labtrail")
	e := newE2E(t, gitlabfake.Options{Seed: 21})
	doc, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	bucketDoc := strings.Replace(string(doc), "  parquet: wh/parquet\n",
		"  parquet: s3://labtrail/wh\n  object_store: "+srv.ObjectStore()+"\n", 1)
	if bucketDoc == string(doc) {
		t.Fatal("the e2e config has no parquet line to replace")
	}
	if err := os.WriteFile(e.cfg, []byte(bucketDoc), 0o644); err != nil {
		t.Fatal(err)
	}

	e.startAndStop(syscall.SIGKILL, 150)
	e.mustRun()
	for _, after := range []int{90, 400} {
		e.fake.AddActivity(int64(after))
		e.startAndStop(syscall.SIGKILL, after)
	}
	e.mustRun()
	if code, _, stderr := e.labtrail("compact", "-c", e.cfg); code != exitOK {
		t.Fatalf("compact exited %d:\n%s", code, lastLines(stderr, 20))
	}
	e.pq = filepath.Join(t.TempDir(), "bucket")
	if err := s3test.Download(context.Background(), srv.Client(), "labtrail", "wh", e.pq); err != nil {
		t.Fatal(err)
	}
	e.checkExact()
	parts, err := filepath.Glob(filepath.Join(e.pq, "*", "created_month=*"))
	if err != nil || len(parts) == 0 {
		t.Fatalf("no partitions in the bucket: %v", err)
	}
	for _, p := range parts {
		if files, _ := filepath.Glob(filepath.Join(p, "*.parquet")); len(files) != 1 {
			t.Errorf("%s: %d objects after compact, want 1", p, len(files))
		}
	}
	wt.NoTokenIn(t, e.dir, "", srv.SecretKey)
	wt.NoTokenIn(t, e.pq, "", srv.SecretKey)
}
