package load

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/schemas"
)

// BenchmarkIcebergVsParquet writes 100,000 event rows (10 batches of
// 10,000) to a fresh warehouse, once with the local Parquet tree only and
// once with Iceberg too (SQLite catalog, local warehouse), and reports the
// time per 100,000 rows and the process's peak resident memory while
// writing (Linux: VmHWM, reset before each case through clear_refs), which
// covers DuckDB's and SQLite's C memory as well as Go's.
func BenchmarkIcebergVsParquet(b *testing.B) {
	const total, batch = 100_000, 10_000
	batches := benchEventRows(total, batch)
	for _, withIceberg := range []bool{false, true} {
		name := "parquet"
		if withIceberg {
			name = "iceberg"
		}
		b.Run(name, func(b *testing.B) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(b, 0)
			var took time.Duration
			var peak int64
			b.StopTimer() // the timer runs only around AppendFacts
			for range b.N {
				dir := b.TempDir()
				opts := Options{DuckDBPath: filepath.Join(dir, "w.duckdb"), ParquetDir: filepath.Join(dir, "parquet"), RunID: "bench", Alloc: alloc}
				if withIceberg {
					opts.Iceberg = &IcebergOptions{Catalog: "sql", URI: filepath.Join(dir, "catalog.db"), Warehouse: filepath.Join(dir, "lake"),
						Namespace: "labtrail", SnapshotRetention: 168 * time.Hour}
				}
				w, err := Open(context.Background(), opts)
				if err != nil {
					b.Fatal(err)
				}
				resetPeakRSS()
				for _, rows := range batches {
					rec := buildRecord(b, alloc, schemas.Events, rows...)
					start := time.Now()
					b.StartTimer()
					_, err := w.AppendFacts(context.Background(), schemas.Events, rec)
					b.StopTimer()
					took += time.Since(start)
					rec.Release()
					if err != nil {
						b.Fatal(err)
					}
				}
				peak = max(peak, peakRSS())
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(took.Seconds()/float64(b.N)*100_000/total, "s/100k-rows")
			if peak > 0 {
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			}
		})
	}
}

// resetPeakRSS resets the kernel's peak resident memory of this process
// to its current value (Linux 4.0+; elsewhere a no-op).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM in bytes, or 0 where /proc is not there.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
