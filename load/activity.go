package load

import (
	"context"
	"fmt"

	"github.com/labtrail/labtrail/schemas"
)

// UnparsedNotes counts the activity rows this run stored whose system-note
// body no rule knew (action 'other'), for the run record. Rows read again
// and dropped as duplicates are not counted: they keep the _run_id of the
// run that stored them.
func (w *Warehouse) UnparsedNotes(ctx context.Context) (int64, error) {
	defer w.reading()()
	var n int64
	err := w.db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(schemas.Activity.Name)+
		" WHERE action = 'other' AND "+quoteIdent(schemas.ColRunID)+" = ?", w.runID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("load: counting unparsed system notes: %w", err)
	}
	return n, nil
}
