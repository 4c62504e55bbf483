package load

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// Status is what a warehouse holds, for `labtrail status` and scripts that
// want the same facts without knowing the _labtrail_* tables.
type Status struct {
	Tables       []TableStatus
	Watermarks   []WatermarkStatus
	Availability []Availability // streams ever refused, by key
	Runs         []RunRecord    // newest first
}

// TableStatus is one table's size and newest row.
type TableStatus struct {
	Name            string
	Rows            int64
	NewestCreatedAt time.Time // zero: no rows, or no created_at column
}

// WatermarkStatus is a watermark with when it was last written.
type WatermarkStatus struct {
	Watermark
	UpdatedAt time.Time
}

// ReadStatus reads the status of the warehouse open in db (read-only is
// enough), with at most lastRuns runs. A warehouse last written by an older
// labtrail (no _labtrail_availability table yet) is read as it is: its
// availability comes from its legacy watermark rows.
func ReadStatus(ctx context.Context, db *sql.DB, lastRuns int) (Status, error) {
	var st Status
	var err error
	if st.Tables, err = tableStatus(ctx, db); err != nil {
		return st, err
	}
	migrated, err := hasTable(ctx, db, "_labtrail_availability")
	if err != nil {
		return st, err
	}
	notLegacy := "NOT " + legacyMarker
	if err := scanRows(ctx, db, `SELECT pipeline, scope, stream, "value", updated_at FROM _labtrail_watermarks
		WHERE `+notLegacy+` ORDER BY pipeline, scope, stream`, func(rows *sql.Rows) error {
		var m WatermarkStatus
		err := rows.Scan(&m.Pipeline, &m.Scope, &m.Stream, &m.Value, &m.UpdatedAt)
		m.Value, m.UpdatedAt = m.Value.UTC(), m.UpdatedAt.UTC()
		st.Watermarks = append(st.Watermarks, m)
		return err
	}); err != nil {
		return st, fmt.Errorf("load: reading watermarks: %w", err)
	}
	q := `SELECT pipeline, scope, stream, available, checked_at, coalesce(reason, '') FROM _labtrail_availability`
	if !migrated {
		q = `SELECT pipeline, scope, ` + legacyStream + `, ` + legacyCleared + `, ` + legacyCheckedAt + `, ''
			FROM _labtrail_watermarks WHERE ` + legacyMarker
	}
	if err := scanRows(ctx, db, q+" ORDER BY 1, 2, 3", func(rows *sql.Rows) error {
		var a Availability
		err := rows.Scan(&a.Pipeline, &a.Scope, &a.Stream, &a.Available, &a.CheckedAt, &a.Reason)
		a.CheckedAt = a.CheckedAt.UTC()
		st.Availability = append(st.Availability, a)
		return err
	}); err != nil {
		return st, fmt.Errorf("load: reading availability: %w", err)
	}
	if st.Runs, err = readRuns(ctx, db, lastRuns); err != nil {
		return st, err
	}
	return st, nil
}

func tableStatus(ctx context.Context, db *sql.DB) ([]TableStatus, error) {
	var union []string
	for i, t := range schemas.All() {
		newest := "NULL::TIMESTAMPTZ"
		if t.Schema.HasField(schemas.ColCreatedAt) {
			newest = "max(" + quoteIdent(schemas.ColCreatedAt) + ")"
		}
		union = append(union, fmt.Sprintf("SELECT %d AS n, '%s' AS t, count(*) AS c, %s AS newest FROM %s",
			i, t.Name, newest, quoteIdent(t.Name)))
	}
	var out []TableStatus
	err := scanRows(ctx, db, "SELECT t, c, newest FROM ("+strings.Join(union, " UNION ALL ")+") ORDER BY n", func(rows *sql.Rows) error {
		var ts TableStatus
		var newest sql.NullTime
		err := rows.Scan(&ts.Name, &ts.Rows, &newest)
		if newest.Valid {
			ts.NewestCreatedAt = newest.Time.UTC()
		}
		out = append(out, ts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load: counting table rows: %w", err)
	}
	return out, nil
}

// readRuns reads the newest n runs. Columns are found by name, so that a
// warehouse written before a column was added still reads.
func readRuns(ctx context.Context, db *sql.DB, n int) ([]RunRecord, error) {
	var out []RunRecord
	err := scanRows(ctx, db, fmt.Sprintf("SELECT * FROM _labtrail_runs ORDER BY started_at DESC NULLS LAST, recorded_at DESC LIMIT %d", n),
		func(rows *sql.Rows) error {
			cols, err := rows.Columns()
			if err != nil {
				return err
			}
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			r, err := runRecordOf(cols, vals)
			out = append(out, r)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("load: reading runs: %w", err)
	}
	return out, nil
}

func runRecordOf(cols []string, vals []any) (RunRecord, error) {
	var r RunRecord
	var rowsJSON string
	strs := map[string]*string{"run_id": &r.RunID, "outcome": &r.Outcome, "error": &r.Error, "rows_json": &rowsJSON}
	times := map[string]*time.Time{"started_at": &r.Start, "ended_at": &r.End}
	ints := map[string]*int64{"requests": &r.Requests, "retries": &r.Retries, "throttled": &r.Throttled,
		"bytes": &r.Bytes, "future_rows": &r.FutureRows, "unparsed_notes": &r.UnparsedNotes}
	for i, c := range cols {
		switch v := vals[i].(type) {
		case string:
			if p, ok := strs[c]; ok {
				*p = v
			}
		case time.Time:
			if p, ok := times[c]; ok {
				*p = v.UTC()
			}
		case int64:
			if p, ok := ints[c]; ok {
				*p = v
			}
		}
	}
	if rowsJSON != "" {
		if err := json.Unmarshal([]byte(rowsJSON), &r.Rows); err != nil {
			return r, fmt.Errorf("run %s: rows_json: %w", r.RunID, err)
		}
	}
	return r, nil
}

func hasTable(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("load: looking for table %s: %w", name, err)
	}
	return n > 0, nil
}

// scanRows runs q and calls scan for each row.
func scanRows(ctx context.Context, db execer, q string, scan func(*sql.Rows) error, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
