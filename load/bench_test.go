package load

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/schemas"
)

// BenchmarkAppendFacts loads 150k fully populated event rows in batches of
// 7,500, the shape of a real run.
func BenchmarkAppendFacts(b *testing.B) {
	const total, batch = 150_000, 7_500
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(b, 0)
	batches := benchEventRows(total, batch)
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

// benchEventRows returns total fully populated event rows, ids from 0, in
// batches of batch rows, created 3 minutes apart from 2023-01-01.
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
