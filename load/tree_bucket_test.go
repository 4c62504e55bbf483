package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/labtrail/labtrail/schemas"
)

// A bucket prefix belongs to one warehouse, like a directory: a second
// DuckDB file pointed at it is refused (each would delete the other's
// objects), the owner reopens, and another prefix of the bucket is free.
func TestBucketOwnerMarker(t *testing.T) {
	e := newBucketEnv(t)
	w := e.open("run1")
	e.close(w)
	other := e.opts("run2")
	other.DuckDBPath = filepath.Join(t.TempDir(), "other.duckdb")
	if _, err := Open(e.ctx, other); err == nil || !strings.Contains(err.Error(), "another warehouse") {
		t.Fatalf("a second warehouse on the prefix: err = %v, want a refusal", err)
	}
	w = e.open("run3")
	e.close(w)
	other.ParquetDir = "s3://" + bucketName + "/elsewhere"
	w2, err := Open(e.ctx, other)
	if err != nil {
		t.Fatalf("another prefix: %v", err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
}

// An object is never overwritten: a batch whose key is taken (by anything)
// fails whole, leaves the object as it was, and stores nothing.
func TestBucketNeverOverwrites(t *testing.T) {
	e := newBucketEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	e.mustAppend(w, schemas.Events, events(t, "2024-03-01T00:00:00Z", 1))
	taken := "events/created_month=2024-04/run1-000002.parquet"
	e.putTreeFile(taken, []byte("not ours"))
	_, err := e.append(w, schemas.Events, events(t, "2024-04-01T00:00:00Z", 2))
	if err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("err = %v, want a refused conditional write", err)
	}
	b, err := os.ReadFile(filepath.Join(e.pq(), filepath.FromSlash(taken)))
	if err != nil || string(b) != "not ours" {
		t.Errorf("the object is %q, %v", b, err)
	}
	if n := queryInt(t, w.DB(), "SELECT count(*) FROM events WHERE id = 2"); n != 0 {
		t.Errorf("the failed batch stored %d rows", n)
	}
}

// Dimensions are one PUT replacing <table>/data.parquet: after each publish
// the object holds exactly DuckDB's rows.
func TestBucketPublishDimensions(t *testing.T) {
	e := newBucketEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	for _, name := range []string{"ann", "bob"} {
		e.upsert(w, schemas.Users, row{"id": 1, "username": name}, row{"id": 2, "username": "cy"})
		if err := w.PublishDimensions(e.ctx); err != nil {
			t.Fatal(err)
		}
		got := query(t, w.DB(), "SELECT id, username FROM read_parquet(?) ORDER BY id", filepath.Join(e.pq(), "users", dimensionFile))
		if want := []string{"1|" + name, "2|cy"}; !slices.Equal(got, want) {
			t.Errorf("users object %q, want %q", got, want)
		}
	}
}

// A bad location is refused before anything is written.
func TestBucketLocationErrors(t *testing.T) {
	for _, loc := range []string{"s3:///prefix", "s3://user:pw@bucket/p", "s3://bucket/p?region=x", "s3://user:pw@bucket/%zz"} {
		_, err := openBucketTree(context.Background(), loc, ObjectStore{}, encoder{}, nil, nil)
		if err == nil {
			t.Errorf("%s accepted", loc)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("the error quotes the credentials: %v", err)
		}
	}
	if !isObjectURL("gs://b/p") || !isObjectURL("azblob://c/p") || !isObjectURL("s3://b") || isObjectURL("warehouse/parquet") || isObjectURL("/abs/dir") {
		t.Error("isObjectURL")
	}
}

// An object past the multipart threshold: written with a conditional
// multipart upload, refused a second time, and read back through ranged
// GETs (it is past wholeReadBytes) row for row.
func TestBucketLargeObject(t *testing.T) {
	e := newBucketEnv(t)
	defer e.alloc.AssertSize(t, 0)
	tr, err := openTree(e.ctx, e.opts("run1"), encoder{alloc: e.alloc}, func(string) error { return nil }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	// Hex of random bytes compresses to half: 5,000 rows of 4 KiB are 10 MiB.
	var rows []row
	for i := range 5000 {
		body := make([]byte, 2048)
		_, _ = rand.Read(body)
		rows = append(rows, row{"id": i, "note_body": hex.EncodeToString(body)})
	}
	rec := buildRecord(t, e.alloc, schemas.Events, rows...)
	defer rec.Release()
	fill := func(fw *pqarrow.FileWriter) error { return fw.Write(rec) }
	const rel = "events/created_month=unknown/big-000001.parquet"
	batch := tr.newBatch()
	if err := batch.write(e.ctx, rel, schemas.Events.Schema, fill); err != nil {
		t.Fatal(err)
	}
	// The gateway answers 412 as soon as it has the headers; a client still
	// sending the body may see the connection reset instead of the answer
	// (seen on a loaded machine). Either way the write must fail, and the
	// object read back below must be the first one.
	if err := tr.newBatch().write(e.ctx, rel, schemas.Events.Schema, fill); err == nil ||
		!strings.Contains(err.Error(), "never overwritten") && !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("second conditional write: %v", err)
	}
	info, err := os.Stat(filepath.Join(e.pq(), filepath.FromSlash(rel)))
	if err != nil || info.Size() <= wholeReadBytes {
		t.Fatalf("object size %v (%v), want more than %d", info, err, wholeReadBytes)
	}
	src, err := tr.open(e.ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*objectFile); !ok {
		t.Fatalf("opened as %T, want ranged reads", src)
	}
	var buf bytes.Buffer
	var n int64
	err = encoder{alloc: e.alloc}.encode(&buf, schemas.Events.Schema, func(fw *pqarrow.FileWriter) error {
		var err error
		n, err = copyParquet(e.ctx, e.alloc, fw, schemas.Events.Schema, src, nil)
		return err
	})
	if err != nil || n != 5000 {
		t.Fatalf("read back %d rows: %v", n, err)
	}
	copied := filepath.Join(t.TempDir(), "copy.parquet")
	if err := os.WriteFile(copied, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	db := memDB(t)
	q := "SELECT count(*), sum(hash(id, note_body)) FROM read_parquet(?)"
	if got, want := query(t, db, q, copied), query(t, db, q, filepath.Join(e.pq(), filepath.FromSlash(rel))); !slices.Equal(got, want) {
		t.Errorf("read back %q, stored %q", got, want)
	}
	if err := batch.abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.pq(), filepath.FromSlash(rel))); !os.IsNotExist(err) {
		t.Errorf("abort left the object: %v", err)
	}
}
