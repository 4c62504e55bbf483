package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/internal/s3test"
	"github.com/labtrail/labtrail/schemas"
)

// benchEventRows returns total fully populated event rows in batches of
// batch, three minutes apart from 2023-01-01: the shape of a real run.
func benchEventRows(total, batch int) [][]row {
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	var batches [][]row
	for off := 0; off < total; off += batch {
		var rows []row
		for id := off; id < off+batch; id++ {
			rows = append(rows, row{
				"id": id, "project_id": id % 50, "action_name": "pushed to", "target_type": "MergeRequest",
				"target_id": id * 3, "target_iid": id % 1000, "target_title": fmt.Sprintf("Fix the thing number %d", id),
				"author_id": id % 300, "author_username": fmt.Sprintf("user%d", id%300), "author_name": "Some Body",
				"created_at":        start.Add(time.Duration(id) * 3 * time.Minute),
				"push_commit_count": 3, "push_action": "pushed", "push_ref_type": "branch",
				"push_commit_from": "0123456789abcdef0123456789abcdef01234567", "push_commit_to": "89abcdef0123456789abcdef0123456789abcdef",
				"push_ref": "main", "push_commit_title": "Merge branch 'feature' into 'main'",
				"note_id": nil, "note_body": nil, "note_system": false,
			})
		}
		batches = append(batches, rows)
	}
	return batches
}

// BenchmarkAppendFacts loads 150k fully populated event rows in batches of
// 7,500, the shape of a real run.
func BenchmarkAppendFacts(b *testing.B) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(b, 0)
	batches := benchEventRows(150_000, 7_500)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		w, err := Open(context.Background(), Options{
			DuckDBPath: filepath.Join(dir, "w.duckdb"), ParquetDir: filepath.Join(dir, "parquet"), RunID: "bench", Alloc: alloc,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, rows := range batches {
			b.StopTimer()
			rec := buildRecord(b, alloc, schemas.Events, rows...)
			b.StartTimer()
			if _, err := w.AppendFacts(context.Background(), schemas.Events, rec); err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		b.StopTimer()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkParquetTree is the cost of the Parquet tree's storage: 100,000
// event rows appended in batches of 5,000 (both sinks, DuckDB included) to
// a local directory and to a bucket of a versitygw on 127.0.0.1 (the
// gateway's own work is in its process, not counted in peak-rss), and the
// same with Iceberg tables too (SQLite catalog; tables in a local directory,
// or in the bucket), each batch one Iceberg append. One op is
// 100,000 rows into a new warehouse, so ns/op is the time per 100,000 rows.
// Memory is what the appends add to what was live before them (the
// records, already built): peak-heap-MiB the Go heap's peak over its level
// before (garbage not yet collected included, as GOGC lets it grow),
// peak-rss-MiB the process's peak resident memory over its resident memory
// before (the peak reset through /proc/self/clear_refs; 0 where that is not
// available), the highest of the timed ops after one untimed warm-up op.
func BenchmarkParquetTree(b *testing.B) {
	const total, batch = 100_000, 5_000
	for _, kind := range []string{"dir", "bucket", "dir+iceberg", "bucket+iceberg"} {
		b.Run(kind, func(b *testing.B) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(b, 0)
			var recs []arrow.RecordBatch
			for _, rows := range benchEventRows(total, batch) {
				recs = append(recs, buildRecord(b, alloc, schemas.Events, rows...))
			}
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			var srv *s3test.Server
			if strings.HasPrefix(kind, "bucket") {
				srv = s3test.Start(b)
				srv.Env(b)
			}
			n := 0
			// op appends recs to a new warehouse; it returns the peaks.
			op := func() (heap, rss float64) {
				n++
				dir := b.TempDir()
				opts := Options{DuckDBPath: filepath.Join(dir, "w.duckdb"), ParquetDir: filepath.Join(dir, "parquet"), RunID: "bench", Alloc: alloc}
				if srv != nil {
					name := "bench-" + strconv.Itoa(n)
					srv.CreateBucket(b, name)
					opts.ParquetDir = "s3://" + name + "/parquet"
					opts.ObjectStore = ObjectStore{Endpoint: srv.Endpoint, Region: s3test.Region, PathStyle: true}
				}
				if strings.HasSuffix(kind, "+iceberg") {
					// A SQLite catalog; the tables next to the Parquet tree.
					opts.Iceberg = &IcebergOptions{Catalog: "sql", URI: filepath.Join(dir, "catalog.db"), Warehouse: filepath.Join(dir, "lake"),
						Namespace: "labtrail", SnapshotRetention: 168 * time.Hour, ObjectStore: opts.ObjectStore}
					if srv != nil {
						opts.Iceberg.Warehouse = strings.TrimSuffix(opts.ParquetDir, "/parquet") + "/lake"
					}
				}
				w, err := Open(context.Background(), opts)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				rssBefore := resetPeakRSS()
				stop := sampleHeap()
				b.StartTimer()
				for _, rec := range recs {
					if _, err := w.AppendFacts(context.Background(), schemas.Events, rec); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				heap, rss = stop(), procStatusMiB("VmHWM:")-rssBefore
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				return heap, rss
			}
			b.StopTimer()
			op() // warm-up: DuckDB's and the HTTP client's first allocations
			var peakHeap, peakRSS float64
			b.StartTimer()
			for b.Loop() {
				b.StopTimer()
				heap, rss := op()
				peakHeap, peakRSS = max(peakHeap, heap), max(peakRSS, rss)
				b.StartTimer()
			}
			b.ReportMetric(peakHeap, "peak-heap-MiB")
			b.ReportMetric(peakRSS, "peak-rss-MiB")
		})
	}
}

// sampleHeap samples the Go heap's live objects every millisecond until
// the returned function is called, which returns the peak over the level at
// the start, in MiB.
func sampleHeap() func() float64 {
	done := make(chan struct{})
	var wg sync.WaitGroup
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	peak := base
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak-base) / (1 << 20)
	}
}

// resetPeakRSS resets the process's peak resident set size to its current
// one (Linux) and returns that, in MiB.
func resetPeakRSS() float64 {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return procStatusMiB("VmRSS:")
}

// procStatusMiB reads a kB field of /proc/self/status (VmHWM:, VmRSS:) in
// MiB; 0 where there is none.
func procStatusMiB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}
