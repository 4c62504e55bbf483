package load

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/labtrail/labtrail/schemas"
)

// addMissingColumns adds to t's existing Iceberg table the columns of t's
// schema it lacks: labtrail releases append columns to schemas/ (DuckDB
// tables gain them on open the same way), and a data file is written with
// t's columns, so the table must have them before any write. They are
// added optional, in one schema update with iceberg-go's UpdateSchema:
// data files written before read them as null. Another writer (a shard of
// the same release) may add them at the same moment; the loser of that
// race reloads, finds them there, and has nothing left to do. Columns the
// table has that t lacks, or whose type differs, are left as they are.
func (l *icebergLake) addMissingColumns(ctx context.Context, t schemas.Table) error {
	want, err := table.ArrowSchemaToIcebergWithFreshIDs(t.Schema, false)
	if err != nil {
		return fmt.Errorf("deriving the schema: %w", err)
	}
	var added []string
	_, err = l.retryConflicts(ctx, t, func(tbl *table.Table, tx *table.Transaction) error {
		missing := missingColumns(tbl.Schema(), want)
		if len(missing) == 0 {
			added = nil // a concurrent writer added them first
			return errAlreadyCommitted
		}
		if err := l.at("evolve iceberg schema"); err != nil {
			return err
		}
		update := tx.UpdateSchema(true, false)
		added = added[:0]
		for _, f := range missing {
			update.AddColumn([]string{f.Name}, f.Type, f.Doc, false, nil)
			added = append(added, f.Name)
		}
		return update.Commit()
	})
	if err != nil {
		return fmt.Errorf("adding the columns %v: %w", added, err)
	}
	if len(added) > 0 {
		l.log.Info("added columns to an Iceberg table (older data files read them as null)", "table", t.Name, "columns", added)
	}
	return nil
}

// missingColumns returns the top-level fields of want whose name no
// column of has carries, in want's order.
func missingColumns(has, want *iceberg.Schema) []iceberg.NestedField {
	var out []iceberg.NestedField
	for _, f := range want.Fields() {
		if _, ok := has.FindFieldByName(f.Name); !ok {
			out = append(out, f)
		}
	}
	return out
}
