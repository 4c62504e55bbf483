package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/labtrail/labtrail/schemas"
)

// A fact batch reaches Iceberg in three steps around DuckDB's commit, the
// pattern of Flink's Iceberg sink with its checkpoint ids:
//
//  1. prepare (a sink, before DuckDB's): write the batch's rows as Iceberg
//     data files in the table's data directory. No snapshot lists them, so
//     no reader sees them.
//  2. DuckDB's commit (the commit point) stores the rows, the watermarks
//     and a _labtrail_iceberg_pending row naming the batch id and files.
//  3. publish: one Iceberg append of those files whose snapshot summary
//     carries the batch id, the run id and the watermarks; then the
//     pending row is deleted.
//
// A crash before 2 leaves data files no snapshot and no pending row names:
// Open deletes them (removeOrphans). A crash between 2 and the end of 3
// leaves a pending row: Open, and the start of every later batch, publish
// it again unless a snapshot summary already carries its batch id (the
// append happened, the pending row's deletion did not). Nothing is
// doubled and nothing is lost.

// icebergBatch is a fact batch's Iceberg data files, written and not yet
// appended.
type icebergBatch struct {
	id      string // the write UUID: in every file name and the summary
	table   string
	files   []string
	summary iceberg.Properties
	// written are the files' metadata as the writer produced them; a
	// batch read back from _labtrail_iceberg_pending has none, and its
	// files' footers are read again instead.
	written []iceberg.DataFile
}

// icebergSink is the Iceberg step of the fact write protocol (step 1).
type icebergSink struct{ lake *icebergLake }

func (s icebergSink) name() string { return "iceberg" }

// prepare writes b's rows as data files of b's table, partitioned by
// month(created_at), and records them in b.iceberg for DuckDB's
// transaction.
func (s icebergSink) prepare(ctx context.Context, b *factBatch) (_ pending, err error) {
	l := s.lake
	tbl, err := l.load(ctx, b.table)
	if err != nil {
		return nil, err
	}
	id := newWriteUUID(l.owner)
	p := &icebergPending{lake: l, tbl: tbl}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.abort())
		}
	}()
	rec, err := takeRows(ctx, l.alloc, b.table.Schema, b.rec, b.rowIndices())
	if err != nil {
		return nil, fmt.Errorf("load: iceberg: selecting rows of %s: %w", b.table.Name, err)
	}
	records, unconsumed := oneRecord(rec)
	written, err := writeDataFiles(ctx, tbl, b.table.Schema, records, id)
	unconsumed()
	p.files = dataFilePaths(written)
	if err != nil {
		return nil, fmt.Errorf("load: iceberg: writing %s: %w", b.table.Name, err)
	}
	marks, err := json.Marshal(b.marks)
	if err != nil {
		return nil, fmt.Errorf("load: iceberg: %w", err)
	}
	b.iceberg = &icebergBatch{id: id.String(), table: b.table.Name, files: p.files, summary: iceberg.Properties{
		summaryBatchID: id.String(), summaryRunID: l.runID, summaryWatermarks: string(marks),
	}, written: written}
	return p, nil
}

// oneRecord yields rec once; WriteRecords releases what it consumes.
// unconsumed releases rec if it was never yielded (WriteRecords refused
// the table before reading anything).
func oneRecord(rec arrow.RecordBatch) (records iter.Seq2[arrow.RecordBatch, error], unconsumed func()) {
	yielded := false
	records = func(yield func(arrow.RecordBatch, error) bool) {
		if yielded {
			return
		}
		yielded = true
		if !yield(rec, nil) {
			rec.Release()
		}
	}
	return records, func() {
		if !yielded {
			yielded = true
			rec.Release()
		}
	}
}

// writeDataFiles writes records as data files of tbl named with id, one
// writer at a time. On error it deletes what it wrote.
func writeDataFiles(ctx context.Context, tbl *table.Table, sc *arrow.Schema, records iter.Seq2[arrow.RecordBatch, error], id uuid.UUID) ([]iceberg.DataFile, error) {
	var files []iceberg.DataFile
	for df, err := range table.WriteRecords(ctx, tbl, sc, records, table.WithWriteUUID(id), table.WithClusteredWrite()) {
		if err != nil {
			return nil, errors.Join(err, removeFiles(ctx, tbl, dataFilePaths(files)))
		}
		files = append(files, df)
	}
	return files, nil
}

// icebergPending is a batch's written data files.
type icebergPending struct {
	lake  *icebergLake
	tbl   *table.Table
	files []string
}

// commit does nothing: the append must wait for DuckDB's commit point,
// and happens in publish.
func (p *icebergPending) commit(context.Context) error { return nil }

// abort deletes the data files; no snapshot lists them.
func (p *icebergPending) abort() error {
	return removeFiles(context.Background(), p.tbl, p.files)
}

func removeFiles(ctx context.Context, tbl *table.Table, files []string) error {
	if len(files) == 0 {
		return nil
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return fmt.Errorf("load: iceberg: %w", err)
	}
	var errs []error
	for _, f := range files {
		if err := fsys.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("load: iceberg: removing %s: %w", f, err))
		}
	}
	return errors.Join(errs...)
}

// recordPending stores b's pending row inside DuckDB's open transaction.
func (b *icebergBatch) recordPending(ctx context.Context, q execer, runID string) error {
	summary, err := json.Marshal(b.summary)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO _labtrail_iceberg_pending (batch_id, table_name, files, summary, run_id, created_at)
		VALUES (?, ?, ?::VARCHAR[], ?, ?, now())`, b.id, b.table, b.files, string(summary), runID)
	if err != nil {
		return fmt.Errorf("recording the pending Iceberg append: %w", err)
	}
	return nil
}

// errAlreadyCommitted tells retryConflicts there is nothing to commit.
var errAlreadyCommitted = errors.New("already committed")

// publish appends b's files to its table in one snapshot carrying b's
// summary, unless a snapshot already carries its batch id, then forgets
// the pending row (step 3).
func (l *icebergLake) publish(ctx context.Context, b *icebergBatch) error {
	t, err := schemas.ByName(b.table)
	if err != nil {
		return fmt.Errorf("load: iceberg: pending batch %s: %w", b.id, err)
	}
	if err := l.at("publish iceberg"); err != nil {
		return err
	}
	_, err = l.retryConflicts(ctx, t, func(tbl *table.Table, tx *table.Transaction) error {
		if batchSnapshot(tbl, b.id) != nil {
			return errAlreadyCommitted
		}
		if b.written != nil {
			return tx.AddDataFiles(ctx, b.written, b.summary)
		}
		// A recovered batch whose snapshot has been expired since: its
		// files are in the table if it was appended. (A batch pending for
		// longer than the retention whose files were also compacted away
		// cannot be told from one never appended; Open recovers long
		// before that.)
		if in, err := currentFiles(ctx, tbl); err != nil {
			return err
		} else if in[b.files[0]] {
			l.log.Warn("a pending Iceberg batch is already in the table, though its snapshot has expired", "table", b.table, "batch", b.id)
			return errAlreadyCommitted
		}
		return tx.AddFiles(ctx, b.files, b.summary, false)
	})
	if err != nil {
		return fmt.Errorf("load: iceberg: appending batch %s to %s: %w", b.id, b.table, err)
	}
	if err := l.at("published iceberg"); err != nil {
		return err
	}
	if _, err := l.conn.ExecContext(context.WithoutCancel(ctx), `DELETE FROM _labtrail_iceberg_pending WHERE batch_id = ?`, b.id); err != nil {
		return fmt.Errorf("load: iceberg: forgetting the published batch %s: %w", b.id, err)
	}
	return nil
}

// batchSnapshot returns the snapshot of tbl whose summary carries batch
// id, or nil.
func batchSnapshot(tbl *table.Table, id string) *table.Snapshot {
	snaps := tbl.Metadata().Snapshots()
	for i := range snaps {
		if s := &snaps[i]; s.Summary != nil && s.Summary.Properties[summaryBatchID] == id {
			return s
		}
	}
	return nil
}

// recover publishes every pending batch, oldest first: those DuckDB
// committed whose append was cut short.
func (l *icebergLake) recover(ctx context.Context) error {
	rows, err := l.conn.QueryContext(ctx, `SELECT batch_id, table_name, files, summary FROM _labtrail_iceberg_pending ORDER BY created_at, batch_id`)
	if err != nil {
		return fmt.Errorf("load: iceberg: reading pending batches: %w", err)
	}
	var batches []*icebergBatch
	for rows.Next() {
		var b icebergBatch
		var files []any
		var summary string
		if err := rows.Scan(&b.id, &b.table, &files, &summary); err != nil {
			return errors.Join(fmt.Errorf("load: iceberg: reading pending batches: %w", err), rows.Close())
		}
		for _, f := range files {
			s, _ := f.(string)
			b.files = append(b.files, s)
		}
		if err := json.Unmarshal([]byte(summary), &b.summary); err != nil {
			return errors.Join(fmt.Errorf("load: iceberg: pending batch %s: %w", b.id, err), rows.Close())
		}
		batches = append(batches, &b)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("load: iceberg: reading pending batches: %w", err)
	}
	for _, b := range batches {
		l.log.Warn("finishing an Iceberg append DuckDB committed before an interruption", "table", b.table, "batch", b.id)
		if err := l.publish(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// currentFiles is every data file the current snapshot of tbl lists.
func currentFiles(ctx context.Context, tbl *table.Table) (map[string]bool, error) {
	out := map[string]bool{}
	if tbl.CurrentSnapshot() == nil {
		return out, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, err
	}
	for _, task := range tasks {
		out[task.File.FilePath()] = true
	}
	return out, nil
}

// loadListed loads t and every data file any of its snapshots lists.
func (l *icebergLake) loadListed(ctx context.Context, t schemas.Table) (*table.Table, map[string]bool, error) {
	tbl, err := l.load(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	listed, err := referencedFiles(ctx, tbl)
	if err != nil {
		return nil, nil, fmt.Errorf("load: iceberg: listing the data files of %s: %w", t.Name, err)
	}
	return tbl, listed, nil
}

// referencedFiles is every data file any snapshot of tbl lists.
func referencedFiles(ctx context.Context, tbl *table.Table) (map[string]bool, error) {
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for m, err := range tbl.AllManifests(ctx) {
		if err != nil {
			return nil, err
		}
		entries, err := m.FetchEntries(fsys, false)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			out[e.DataFile().FilePath()] = true
		}
	}
	return out, nil
}

// newOwnerPrefix returns a new owner prefix: the first three groups of a
// UUID ("xxxxxxxx-xxxx-xxxx", 64 random bits).
func newOwnerPrefix() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16]
}

// newWriteUUID returns a random UUID that starts with owner.
func newWriteUUID(owner string) uuid.UUID {
	r := uuid.New().String()
	u, err := uuid.Parse(owner + r[18:])
	if err != nil {
		return uuid.New() // an owner prefix not made by newOwnerPrefix: such files are never orphan-collected
	}
	return u
}
