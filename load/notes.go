package load

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/schemas"
)

// A warehouse that kept internal notes and is switched to redacting them
// must not go on showing the bodies it stored: the switch is made because
// the warehouse is read more widely than the notes were meant to be. So
// Open, asked to redact, nulls every stored body of an events row with
// note_internal true: in DuckDB, and in Parquet by rewriting each month
// partition that holds such a row, with the compaction protocol (the
// rewritten file and the DuckDB update commit together, a crash is
// finished or undone by the next Open). Rows stored by a labtrail that did
// not yet record note_internal cannot be told apart and keep their bodies.

const (
	colNoteBody     = "note_body"
	colNoteInternal = "note_internal"
)

// partitionOf is the SQL spelling of a fact row's partition, as monthOf
// computes it.
const partitionOf = "coalesce(strftime(timezone('UTC', " + `"` + schemas.ColCreatedAt + `"` + "), '%Y-%m'), '" + unknownMonth + "')"

// redactInternalNotes nulls the stored bodies of internal notes, partition
// by partition, and returns how many it nulled.
func (w *Warehouse) redactInternalNotes(ctx context.Context) (int64, error) {
	t := schemas.Events
	flagged := quoteIdent(colNoteInternal) + " AND " + quoteIdent(colNoteBody) + " IS NOT NULL"
	months, err := w.flaggedMonths(ctx, flagged)
	if err != nil || len(months) == 0 {
		return 0, err
	}
	manifest, err := loadManifest(ctx, w.conn)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, m := range months {
		part := path.Join(t.Name, schemas.PartitionColumn+"="+m)
		var files []fileEntry
		for _, f := range manifest {
			if path.Dir(f.path) == part {
				files = append(files, f)
			}
		}
		var n int64
		update := func() error {
			res, err := w.conn.ExecContext(ctx, "UPDATE "+quoteIdent(t.Name)+" SET "+quoteIdent(colNoteBody)+" = NULL WHERE "+
				flagged+" AND "+partitionOf+" = ?", m)
			if err == nil {
				n, err = res.RowsAffected()
			}
			return err
		}
		if len(files) == 0 {
			// Rows only in DuckDB (their file went missing): nothing to rewrite.
			if err := w.duck.inTx(ctx, nil, update); err != nil {
				return total, fmt.Errorf("load: redacting internal notes of %s: %w", part, err)
			}
		} else if _, err := w.rewritePartition(ctx, t, part, files, partitionRewrite{
			mapRec: func(rec arrow.RecordBatch) (arrow.RecordBatch, error) { return redactNotes(w.alloc, rec) },
			inTx:   update,
		}); err != nil {
			return total, fmt.Errorf("load: redacting internal notes of %s: %w", part, err)
		}
		total += n
	}
	return total, nil
}

// flaggedMonths lists the partitions of events rows matching where.
func (w *Warehouse) flaggedMonths(ctx context.Context, where string) ([]string, error) {
	rows, err := w.conn.QueryContext(ctx, "SELECT DISTINCT "+partitionOf+" FROM "+quoteIdent(schemas.Events.Name)+
		" WHERE "+where+" ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("load: finding internal notes to redact: %w", err)
	}
	var months []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load: finding internal notes to redact: %w", err)
		}
		months = append(months, m)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("load: finding internal notes to redact: %w", err)
	}
	return months, nil
}

// redactNotes returns rec (an events record) with note_body null wherever
// note_internal is true. The caller releases both.
func redactNotes(mem memory.Allocator, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	sc := rec.Schema()
	bi, fi := sc.FieldIndices(colNoteBody), sc.FieldIndices(colNoteInternal)
	if len(bi) != 1 || len(fi) != 1 {
		return nil, errors.New("events record without note_body and note_internal")
	}
	body, ok1 := rec.Column(bi[0]).(*array.String)
	internal, ok2 := rec.Column(fi[0]).(*array.Boolean)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("note_body is %s, note_internal %s", rec.Column(bi[0]).DataType(), rec.Column(fi[0]).DataType())
	}
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(body.Len())
	for i := range body.Len() {
		if body.IsNull(i) || internal.IsValid(i) && internal.Value(i) {
			b.AppendNull()
		} else {
			b.Append(body.Value(i))
		}
	}
	redacted := b.NewStringArray()
	defer redacted.Release()
	cols := make([]arrow.Array, rec.NumCols())
	copy(cols, rec.Columns())
	cols[bi[0]] = redacted
	return array.NewRecordBatch(sc, cols, rec.NumRows()), nil
}
