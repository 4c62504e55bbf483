package load

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/schemas"
)

// A warehouse that kept internal notes and is switched to redacting them
// must not go on showing the bodies it stored: the switch is made because
// the warehouse is read more widely than the notes were meant to be. So
// Open, asked to redact, nulls every stored body of an events row with
// note_internal true, and the body and parsed text of an activity row with
// internal true: in DuckDB, and in Parquet by rewriting each month
// partition that holds such a row, with the compaction protocol (the
// rewritten file and the DuckDB update commit together, a crash is
// finished or undone by the next Open). Rows stored by a labtrail that did
// not yet record note_internal cannot be told apart and keep their bodies.

// noteText is a table holding text from notes: the rows whose flag column
// is true lose the text columns under redact.
type noteText struct {
	table schemas.Table
	flag  string
	text  []string
}

// noteTexts are the tables that hold note text: events (comments and the
// notes of note events) and activity (system notes: their body, and the
// values and references parsed from it).
func noteTexts() []noteText {
	return []noteText{
		{schemas.Events, "note_internal", []string{"note_body"}},
		{schemas.Activity, "internal", []string{"body", "old_value", "new_value", "related_ref"}},
	}
}

// flagged is the SQL condition of a row that still shows text it must not.
func (nt noteText) flagged() string {
	var conds []string
	for _, c := range nt.text {
		conds = append(conds, quoteIdent(c)+" IS NOT NULL")
	}
	return quoteIdent(nt.flag) + " AND (" + strings.Join(conds, " OR ") + ")"
}

// partitionOf is the SQL spelling of a fact row's partition, as monthOf
// computes it.
const partitionOf = "coalesce(strftime(timezone('UTC', " + `"` + schemas.ColCreatedAt + `"` + "), '%Y-%m'), '" + unknownMonth + "')"

// redactInternalNotes nulls the stored text of internal notes, table by
// table and partition by partition, and returns how many rows it changed.
func (w *Warehouse) redactInternalNotes(ctx context.Context) (int64, error) {
	var total int64
	for _, nt := range noteTexts() {
		n, err := w.redactTable(ctx, nt)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (w *Warehouse) redactTable(ctx context.Context, nt noteText) (int64, error) {
	t := nt.table
	flagged := nt.flagged()
	months, err := w.flaggedMonths(ctx, t, flagged)
	if err != nil || len(months) == 0 {
		return 0, err
	}
	manifest, err := loadManifest(ctx, w.conn)
	if err != nil {
		return 0, err
	}
	var sets []string
	for _, c := range nt.text {
		sets = append(sets, quoteIdent(c)+" = NULL")
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
			res, err := w.conn.ExecContext(ctx, "UPDATE "+quoteIdent(t.Name)+" SET "+strings.Join(sets, ", ")+" WHERE "+
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
			mapRec: func(rec arrow.RecordBatch) (arrow.RecordBatch, error) { return redactNotes(w.alloc, rec, nt) },
			inTx:   update,
		}); err != nil {
			return total, fmt.Errorf("load: redacting internal notes of %s: %w", part, err)
		}
		total += n
	}
	return total, nil
}

// flaggedMonths lists the partitions of t's rows matching where.
func (w *Warehouse) flaggedMonths(ctx context.Context, t schemas.Table, where string) ([]string, error) {
	rows, err := w.conn.QueryContext(ctx, "SELECT DISTINCT "+partitionOf+" FROM "+quoteIdent(t.Name)+
		" WHERE "+where+" ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("load: finding internal notes to redact in %s: %w", t.Name, err)
	}
	var months []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load: finding internal notes to redact in %s: %w", t.Name, err)
		}
		months = append(months, m)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("load: finding internal notes to redact in %s: %w", t.Name, err)
	}
	return months, nil
}

// redactNotes returns rec (a record of nt's table) with nt's text columns
// null wherever its flag is true. The caller releases both.
func redactNotes(mem memory.Allocator, rec arrow.RecordBatch, nt noteText) (arrow.RecordBatch, error) {
	sc := rec.Schema()
	fi := sc.FieldIndices(nt.flag)
	if len(fi) != 1 {
		return nil, fmt.Errorf("%s record without %s", nt.table.Name, nt.flag)
	}
	internal, ok := rec.Column(fi[0]).(*array.Boolean)
	if !ok {
		return nil, fmt.Errorf("%s is %s", nt.flag, rec.Column(fi[0]).DataType())
	}
	cols := make([]arrow.Array, rec.NumCols())
	copy(cols, rec.Columns())
	for _, c := range nt.text {
		bi := sc.FieldIndices(c)
		if len(bi) != 1 {
			return nil, fmt.Errorf("%s record without %s", nt.table.Name, c)
		}
		text, ok := rec.Column(bi[0]).(*array.String)
		if !ok {
			return nil, fmt.Errorf("%s is %s", c, rec.Column(bi[0]).DataType())
		}
		redacted := redactColumn(mem, text, internal)
		defer redacted.Release()
		cols[bi[0]] = redacted
	}
	return array.NewRecordBatch(sc, cols, rec.NumRows()), nil
}

// redactColumn is text with null wherever internal is true.
func redactColumn(mem memory.Allocator, text *array.String, internal *array.Boolean) *array.String {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(text.Len())
	for i := range text.Len() {
		if text.IsNull(i) || internal.IsValid(i) && internal.Value(i) {
			b.AppendNull()
		} else {
			b.Append(text.Value(i))
		}
	}
	return b.NewStringArray()
}
