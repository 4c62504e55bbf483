package load

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// previousState is the DuckDB file of an earlier layout of a sharded
// warehouse (see Options.Previous), attached read-only under alias.
type previousState struct {
	path, alias string
	tables      map[string]bool // the fact tables it has
}

// attachPrevious attaches every file of opts.Previous read-only, adopts
// the state of the scopes opts.Adopt accepts, and remembers which fact
// tables each file holds, for existingIDs. Attaching fails, with a clear
// error, while another process writes the file: the old layout must be
// stopped before the new one starts.
func (w *Warehouse) attachPrevious(ctx context.Context, opts Options) error {
	for i, path := range opts.Previous {
		p := previousState{path: path, alias: fmt.Sprintf("_labtrail_prev%d", i), tables: map[string]bool{}}
		if _, err := w.conn.ExecContext(ctx, "ATTACH "+quoteString(path)+" AS "+quoteIdent(p.alias)+" (READ_ONLY)"); err != nil {
			return fmt.Errorf("load: reading the state of an earlier shard layout, %s (stop every labtrail of that layout first): %w", path, err)
		}
		err := scanRows(ctx, w.conn, "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", func(rows *sql.Rows) error {
			var name string
			err := rows.Scan(&name)
			p.tables[name] = true
			return err
		}, p.alias)
		if err != nil {
			return fmt.Errorf("load: listing the tables of %s: %w", path, err)
		}
		w.duck.previous = append(w.duck.previous, p)
	}
	if opts.Adopt == nil || len(w.duck.previous) == 0 {
		return nil
	}
	return w.adopt(ctx, opts.Adopt)
}

// adopt copies, in one transaction, the watermarks, finished windows and
// availability of the scopes owns accepts from the earlier layouts' state,
// where the earlier watermark is newer than this warehouse's (or this one
// has none): a project that moved to this shard goes on from where its old
// shard stopped. A key's windows go with its watermark, since they record
// progress towards it.
func (w *Warehouse) adopt(ctx context.Context, owns func(scope string) bool) error {
	marks, err := readMarks(ctx, w.conn, "_labtrail_watermarks")
	if err != nil {
		return err
	}
	ours := make(map[WatermarkKey]time.Time, len(marks))
	for _, m := range marks {
		ours[m.WatermarkKey] = m.Value
	}
	return w.duck.inTx(ctx, nil, func() error {
		for _, p := range w.duck.previous {
			if !p.tables["_labtrail_watermarks"] {
				continue
			}
			theirs, err := readMarks(ctx, w.conn, quoteIdent(p.alias)+"._labtrail_watermarks")
			if err != nil {
				return err
			}
			for _, m := range theirs {
				if cur, ok := ours[m.WatermarkKey]; !owns(m.Scope) || ok && !m.Value.After(cur) {
					continue
				}
				ours[m.WatermarkKey] = m.Value
				if err := w.adoptKey(ctx, p, m.WatermarkKey); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// adoptKey replaces k's watermark, windows and availability by p's.
func (w *Warehouse) adoptKey(ctx context.Context, p previousState, k WatermarkKey) error {
	args := []any{k.Pipeline, k.Scope, k.Stream}
	const match = ` WHERE pipeline = ? AND scope = ? AND stream = ?`
	stmts := []string{
		`DELETE FROM _labtrail_watermarks` + match,
		`INSERT INTO _labtrail_watermarks SELECT * FROM ` + quoteIdent(p.alias) + `._labtrail_watermarks` + match,
		`DELETE FROM _labtrail_windows` + match,
	}
	if p.tables["_labtrail_windows"] {
		stmts = append(stmts, `INSERT INTO _labtrail_windows SELECT * FROM `+quoteIdent(p.alias)+`._labtrail_windows`+match)
	}
	if p.tables["_labtrail_availability"] {
		stmts = append(stmts, `INSERT INTO _labtrail_availability SELECT * FROM `+quoteIdent(p.alias)+`._labtrail_availability`+match+` ON CONFLICT DO NOTHING`)
	}
	for _, q := range stmts {
		if _, err := w.conn.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("load: adopting %s/%s/%s from %s: %w", k.Pipeline, k.Scope, k.Stream, p.path, err)
		}
	}
	return nil
}

// storedIn is the union of table's ids in this warehouse and in the
// earlier layouts' state that has it: a row stored under an old layout
// counts as stored.
func (d *duckSink) storedIn(table string) string {
	parts := []string{"SELECT " + quoteIdent(schemas.ColID) + " AS id FROM " + quoteIdent(table)}
	for _, p := range d.previous {
		if p.tables[table] {
			parts = append(parts, "SELECT "+quoteIdent(schemas.ColID)+" FROM "+quoteIdent(p.alias)+"."+quoteIdent(table))
		}
	}
	if len(parts) == 1 {
		return quoteIdent(table)
	}
	return "(" + strings.Join(parts, " UNION ALL ") + ") AS stored"
}

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
