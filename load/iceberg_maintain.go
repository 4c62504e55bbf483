package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/labtrail/labtrail/schemas"
)

// publishDimension replaces every row of dimension or bridge table t with
// the records scan emits, as one overwrite snapshot: a reader sees the old
// rows or the new ones, never a mix. The new data files are written first,
// named with this warehouse's owner prefix (so that a crash leaves
// nothing removeOrphans would not find); a lost commit race swaps them for
// whatever files the table holds by then.
func (l *icebergLake) publishDimension(ctx context.Context, t schemas.Table, scan func(emit func(arrow.RecordBatch) error) error) error {
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	err := scan(func(rec arrow.RecordBatch) error {
		rec.Retain()
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return err
	}
	if l.shared {
		return l.publishSharedDimension(ctx, t, recs)
	}
	tbl, err := l.load(ctx, t)
	if err != nil {
		return err
	}
	records := func(yield func(arrow.RecordBatch, error) bool) {
		for _, r := range recs {
			r.Retain() // WriteRecords releases what it consumes
			if !yield(r, nil) {
				r.Release()
				return
			}
		}
	}
	written, err := writeDataFiles(ctx, tbl, t.Schema, records, newWriteUUID(l.owner))
	if err != nil {
		return fmt.Errorf("load: iceberg: writing %s: %w", t.Name, err)
	}
	props := iceberg.Properties{summaryRunID: l.runID}
	_, err = l.retryConflicts(ctx, t, func(tbl *table.Table, tx *table.Transaction) error {
		var old []iceberg.DataFile
		groups, err := partitionFiles(ctx, tbl)
		if err != nil {
			return err
		}
		for _, g := range groups {
			old = append(old, g...)
		}
		switch {
		case len(old) == 0 && len(written) == 0:
			return errAlreadyCommitted // nothing to replace, nothing to add
		case len(written) == 0:
			return tx.Delete(ctx, iceberg.AlwaysTrue{}, props)
		}
		return tx.ReplaceDataFilesWithDataFiles(ctx, old, written, props)
	})
	if err != nil {
		return errors.Join(fmt.Errorf("load: iceberg: overwriting %s: %w", t.Name, err), l.removeUnlisted(ctx, t, written))
	}
	return nil
}

// publishSharedDimension replaces, in one overwrite snapshot, the rows of
// dimension or bridge table t whose key (id; a bridge's parent id) is among
// recs' with recs, keeping every other writer's rows: iceberg-go's
// copy-on-write overwrite drops the matching rows from the files that hold
// them. Shards that both hold a row (a user two shards saw) replace each
// other's copy; the table holds one row per key either way.
func (l *icebergLake) publishSharedDimension(ctx context.Context, t schemas.Table, recs []arrow.RecordBatch) error {
	// The keys are the ids of this warehouse's rows of t, for a bridge
	// its parent's: a parent whose list became empty has no bridge rows
	// left, and its old ones must go too.
	key, keyTable := schemas.ColID, t.Name
	if t.Bridge != nil {
		key, keyTable = t.Bridge.ParentColumn, t.Bridge.Parent
	}
	keys, err := l.ids(ctx, keyTable)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil // nothing of ours to replace
	}
	props := iceberg.Properties{summaryRunID: l.runID}
	_, err = l.retryConflicts(ctx, t, func(tbl *table.Table, tx *table.Transaction) error {
		rdr, err := array.NewRecordReader(t.Schema, recs)
		if err != nil {
			return err
		}
		defer rdr.Release()
		return tx.Overwrite(ctx, rdr, props, table.WithOverwriteFilter(iceberg.IsIn(iceberg.Reference(key), keys...)))
	})
	if err != nil {
		return fmt.Errorf("load: iceberg: overwriting %s's rows of this shard: %w", t.Name, err)
	}
	return nil
}

// ids returns the ids of DuckDB table name, sorted.
func (l *icebergLake) ids(ctx context.Context, name string) ([]int64, error) {
	var out []int64
	err := scanRows(ctx, l.conn, "SELECT DISTINCT "+quoteIdent(schemas.ColID)+" FROM "+quoteIdent(name)+" ORDER BY 1", func(rows *sql.Rows) error {
		var id int64
		err := rows.Scan(&id)
		out = append(out, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load: iceberg: reading the ids of %s: %w", name, err)
	}
	return out, nil
}

// compact rewrites, for each partition of fact table t holding more than
// one data file, those files into one, and replaces them in one replace
// snapshot for the whole table: a reader sees either the old files or the
// new ones, never a row twice. It returns the partitions rewritten, the
// files they held and their rows.
func (l *icebergLake) compact(ctx context.Context, t schemas.Table) (parts, files int, rows int64, err error) {
	var written []iceberg.DataFile
	_, err = l.retryConflicts(ctx, t, func(tbl *table.Table, tx *table.Transaction) error {
		// A lost race leaves the previous attempt's files unlisted.
		if err := removeFiles(ctx, tbl, dataFilePaths(written)); err != nil {
			return err
		}
		written, parts, files, rows = nil, 0, 0, 0
		groups, err := partitionFiles(ctx, tbl)
		if err != nil {
			return err
		}
		var old []iceberg.DataFile
		for _, g := range groups {
			if len(g) < 2 {
				continue
			}
			dfs, n, err := l.rewriteFiles(ctx, tbl, g)
			written = append(written, dfs...)
			if err != nil {
				return err
			}
			old = append(old, g...)
			parts, files, rows = parts+1, files+len(g), rows+n
		}
		if len(old) == 0 {
			return errAlreadyCommitted
		}
		if err := l.at("commit iceberg compaction"); err != nil {
			return err
		}
		return tx.NewRewrite(iceberg.Properties{summaryRunID: l.runID}).Apply(old, written, nil).Commit(ctx)
	})
	if err != nil {
		return 0, 0, 0, errors.Join(fmt.Errorf("load: iceberg: compacting %s: %w", t.Name, err), l.removeUnlisted(ctx, t, written))
	}
	return parts, files, rows, nil
}

// removeUnlisted deletes the files of a failed compaction, unless a
// snapshot lists them after all (a commit whose outcome was unknown).
func (l *icebergLake) removeUnlisted(ctx context.Context, t schemas.Table, dfs []iceberg.DataFile) error {
	if len(dfs) == 0 {
		return nil
	}
	tbl, listed, err := l.loadListed(ctx, t)
	if err != nil {
		return err
	}
	var drop []string
	for _, p := range dataFilePaths(dfs) {
		if !listed[p] {
			drop = append(drop, p)
		}
	}
	return removeFiles(ctx, tbl, drop)
}

func dataFilePaths(dfs []iceberg.DataFile) []string {
	out := make([]string, len(dfs))
	for i, df := range dfs {
		out[i] = df.FilePath()
	}
	return out
}

// partitionFiles groups the current snapshot's data files by partition,
// in a stable order.
func partitionFiles(ctx context.Context, tbl *table.Table) ([][]iceberg.DataFile, error) {
	if tbl.CurrentSnapshot() == nil {
		return nil, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, err
	}
	byKey := map[string][]iceberg.DataFile{}
	for _, task := range tasks {
		if len(task.DeleteFiles)+len(task.EqualityDeleteFiles)+len(task.DeletionVectorFiles) > 0 {
			return nil, fmt.Errorf("data file %s has delete files, which labtrail never writes", task.File.FilePath())
		}
		k := fmt.Sprint(task.File.SpecID(), task.File.Partition())
		byKey[k] = append(byKey[k], task.File)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][]iceberg.DataFile, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out, nil
}

// rewriteFiles copies the rows of dfs, one partition's files, into new
// data files named with this warehouse's owner prefix.
func (l *icebergLake) rewriteFiles(ctx context.Context, tbl *table.Table, dfs []iceberg.DataFile) ([]iceberg.DataFile, int64, error) {
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
	if err != nil {
		return nil, 0, err
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, 0, err
	}
	var rows int64
	var readErr error
	records := func(yield func(arrow.RecordBatch, error) bool) {
		for _, df := range dfs {
			f, err := fsys.Open(df.FilePath())
			if err != nil {
				yield(nil, err)
				return
			}
			err = l.readFile(ctx, f, func(rec arrow.RecordBatch) bool {
				rows += rec.NumRows()
				return yield(rec, nil)
			})
			if err != nil {
				readErr = err
				yield(nil, err)
				return
			}
		}
	}
	out, err := writeDataFiles(ctx, tbl, sc, iter.Seq2[arrow.RecordBatch, error](records), newWriteUUID(l.owner))
	if err != nil {
		return nil, rows, errors.Join(err, readErr)
	}
	return out, rows, nil
}

// readFile hands each record of the Parquet file f to emit, retained for
// it (WriteRecords releases what it consumes); it stops when emit returns
// false. It closes f.
func (l *icebergLake) readFile(ctx context.Context, f icebergio.File, emit func(arrow.RecordBatch) bool) error {
	rdr, err := file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(l.alloc)))
	if err != nil {
		return errors.Join(err, f.Close())
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: readBatchRows}, l.alloc)
	if err != nil {
		return err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		rec.Retain()
		if !emit(rec) {
			return nil
		}
	}
	return rr.Err()
}

// expire drops snapshots of t replaced longer than the retention ago,
// keeping at least the current one, and deletes the files only they
// listed.
func (l *icebergLake) expire(ctx context.Context, t schemas.Table) error {
	_, err := l.retryConflicts(ctx, t, func(tbl *table.Table, tx *table.Transaction) error {
		cutoff := time.Now().Add(-l.retention).UnixMilli()
		cur := tbl.CurrentSnapshot()
		old := false
		for _, s := range tbl.Metadata().Snapshots() {
			if s.TimestampMs < cutoff && (cur == nil || s.SnapshotID != cur.SnapshotID) {
				old = true
				break
			}
		}
		if !old {
			return errAlreadyCommitted
		}
		return tx.ExpireSnapshots(table.WithOlderThan(l.retention), table.WithRetainLast(1))
	})
	if err != nil {
		return fmt.Errorf("load: iceberg: expiring snapshots of %s: %w", t.Name, err)
	}
	return nil
}

// maintain expires old snapshots of every table.
func (l *icebergLake) maintain(ctx context.Context) error {
	for _, t := range schemas.All() {
		if err := l.expire(ctx, t); err != nil {
			return err
		}
	}
	return nil
}
