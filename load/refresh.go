package load

import (
	"context"
	"errors"
	"fmt"

	"github.com/labtrail/labtrail/schemas"
)

// A dimension table that gains columns holds rows stored before them,
// null in the new columns (and, for issues and merge requests, without
// bridge rows). Dimension rows are refreshed only when their entity is
// seen again, and a parent is listed again only when it changes: left
// alone, an issue untouched since the upgrade would show null labels for
// ever. So Open marks such a parent table in _labtrail_refresh, a run
// lists the parents of marked tables in full (from since, not from the
// watermark; their resource events are still read only where they
// changed), and the mark is cleared after a run that succeeded
// everywhere. Users, labels and milestones cannot be listed that way:
// their rows gain the new columns when a row references them again.

const refreshTable = `CREATE TABLE IF NOT EXISTS _labtrail_refresh (
	table_name VARCHAR NOT NULL PRIMARY KEY,
	marked_at  TIMESTAMPTZ NOT NULL
)`

func isParentTable(t schemas.Table) bool {
	for _, k := range schemas.ParentKinds() {
		if k.Table().Name == t.Name {
			return true
		}
	}
	return false
}

// markRefresh marks tables as holding rows older than their columns.
func (d *duckSink) markRefresh(ctx context.Context, tables []string) error {
	for _, t := range tables {
		if _, err := d.conn.ExecContext(ctx, "INSERT OR REPLACE INTO _labtrail_refresh VALUES (?, now())", t); err != nil {
			return fmt.Errorf("load: marking %s for a refresh: %w", t, err)
		}
	}
	return nil
}

// Refreshes returns the dimension tables marked for a refresh: their rows
// predate columns added since, so a run should list their entities in
// full, and then ClearRefreshes.
func (w *Warehouse) Refreshes(ctx context.Context) (map[string]bool, error) {
	defer w.reading()()
	rows, err := w.db.QueryContext(ctx, "SELECT table_name FROM _labtrail_refresh")
	if err != nil {
		return nil, fmt.Errorf("load: reading refresh marks: %w", err)
	}
	out := map[string]bool{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load: reading refresh marks: %w", err)
		}
		out[t] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("load: reading refresh marks: %w", err)
	}
	return out, nil
}

// ClearRefreshes removes the refresh marks of tables, once a run has
// listed their entities in full everywhere.
func (w *Warehouse) ClearRefreshes(ctx context.Context, tables []string) error {
	unlock, err := w.begin()
	if err != nil {
		return err
	}
	defer unlock()
	for _, t := range tables {
		if _, err := w.conn.ExecContext(ctx, "DELETE FROM _labtrail_refresh WHERE table_name = ?", t); err != nil {
			return fmt.Errorf("load: clearing the refresh mark of %s: %w", t, err)
		}
	}
	return nil
}
