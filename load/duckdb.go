package load

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/labtrail/labtrail/schemas"
)

// duckSink is the DuckDB side of the warehouse. It owns no connection: it
// uses the Warehouse's write connection, and every call happens under the
// Warehouse's mutex.
type duckSink struct {
	conn  *sql.Conn
	runID string
	// at is the Warehouse's test hook (see Warehouse.hook).
	at func(point string) error
	// previous are the earlier shard layouts' state (Options.Previous),
	// whose rows count as stored.
	previous []previousState
}

func (d *duckSink) name() string { return "duckdb" }

// stageTable is the temporary table dimension rows go through on their way to
// an upsert. It lives only inside the upsert's transaction.
const stageTable = "_labtrail_stage"

// ensureTables creates missing tables (PRIMARY KEY on the table's Key, NOT
// NULL where the Arrow field is not nullable), adds columns appended to a
// schema since the table was created, checks that existing columns have
// the expected types, and creates the internal _labtrail_* tables, all in
// one transaction. Parent tables (issues, merge requests, epics) that
// gained columns are marked for a refresh (see markRefresh).
func (d *duckSink) ensureTables(ctx context.Context, tables []schemas.Table) error {
	existing, err := d.columns(ctx)
	if err != nil {
		return fmt.Errorf("load: reading DuckDB's tables: %w", err)
	}
	return d.inTx(ctx, nil, func() error {
		var grown []string
		for _, t := range tables {
			added, err := d.ensureTable(ctx, t, existing[t.Name])
			if err != nil {
				return fmt.Errorf("load: preparing DuckDB table %s: %w", t.Name, err)
			}
			if added && isParentTable(t) {
				grown = append(grown, t.Name)
			}
		}
		for _, ddl := range append(internalTables(), refreshTable) {
			if _, err := d.conn.ExecContext(ctx, ddl); err != nil {
				return fmt.Errorf("load: creating internal tables: %w", err)
			}
		}
		return d.markRefresh(ctx, grown)
	})
}

// columns returns the type of every column of the main schema's tables, by
// table and column name. One query for all tables, and the statements that
// then create or alter tables in one transaction (ensureTables): a query of
// information_schema and an autocommitted statement (a WAL fsync) each
// took a millisecond or more per table, and Open is on every run's
// critical path. Measured on 3 December 2026 (load, four Opens of one
// directory): 83 ms for a new warehouse and 64 to 67 to reopen it with a
// query and statements per table, 57 ms of it in ensureTables; 39 and 28
// to 31 with these and the views' one transaction (CreateViews).
func (d *duckSink) columns(ctx context.Context) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	err := scanRows(ctx, d.conn, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_catalog = current_database() AND table_schema = 'main'`, func(rows *sql.Rows) error {
		var table, name, typ string
		if err := rows.Scan(&table, &name, &typ); err != nil {
			return err
		}
		if out[table] == nil {
			out[table] = map[string]string{}
		}
		out[table][name] = typ
		return nil
	})
	return out, err
}

// ensureTable creates t or adds the columns it lacks, given its existing
// columns' types by name (none: no table), and reports whether an existing
// table gained columns.
func (d *duckSink) ensureTable(ctx context.Context, t schemas.Table, existing map[string]string) (added bool, err error) {
	if len(existing) == 0 {
		var cols []string
		for _, f := range t.Schema.Fields() {
			typ, err := duckType(f.Type)
			if err != nil {
				return false, fmt.Errorf("column %s: %w", f.Name, err)
			}
			col := quoteIdent(f.Name) + " " + typ.ddl
			if !f.Nullable {
				col += " NOT NULL"
			}
			cols = append(cols, col)
		}
		cols = append(cols, "PRIMARY KEY ("+quoteList(t.Key())+")")
		_, err := d.conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+quoteIdent(t.Name)+" (\n\t"+strings.Join(cols, ",\n\t")+"\n)")
		return false, err
	}

	for _, f := range t.Schema.Fields() {
		typ, err := duckType(f.Type)
		if err != nil {
			return added, fmt.Errorf("column %s: %w", f.Name, err)
		}
		got, ok := existing[f.Name]
		if !ok {
			// Added to the schema after the table was created. No NOT NULL:
			// the rows already stored have no value for it.
			if _, err := d.conn.ExecContext(ctx, "ALTER TABLE "+quoteIdent(t.Name)+" ADD COLUMN "+quoteIdent(f.Name)+" "+typ.ddl); err != nil {
				return added, fmt.Errorf("adding column %s: %w", f.Name, err)
			}
			added = true
			continue
		}
		if got != typ.describe {
			return added, fmt.Errorf("column %s is %s in DuckDB, the schema says %s (columns are never retyped)", f.Name, got, typ.describe)
		}
	}
	return added, nil
}

// existingIDs returns which of ids are already stored in table.
func (d *duckSink) existingIDs(ctx context.Context, table string, ids []int64) (map[int64]struct{}, error) {
	found := map[int64]struct{}{}
	if len(ids) == 0 {
		return found, nil
	}
	err := scanRows(ctx, d.conn, "SELECT "+quoteIdent(schemas.ColID)+" FROM "+d.storedIn(table)+
		" WHERE "+quoteIdent(schemas.ColID)+" IN (SELECT unnest(?::BIGINT[]))", func(rows *sql.Rows) error {
		var id int64
		err := rows.Scan(&id)
		found[id] = struct{}{}
		return err
	}, ids)
	if err != nil {
		return nil, fmt.Errorf("looking up stored ids in %s: %w", table, err)
	}
	return found, nil
}

// DuckDB's part of a fact batch is a transaction, opened by stage and
// filled by stage and finish, that writes the batch's rows, the manifest
// rows of the files the sinks before it wrote (b.files, b.iceberg) and the
// watermarks. Nothing is visible to other connections, or durable, until
// commit.
//
// stage opens the batch's transaction and appends b's rows in it: the
// part that needs nothing from the other sinks, so that writeBatch runs
// it while they write their files. On error the transaction is rolled
// back.
func (d *duckSink) stage(ctx context.Context, b *factBatch) error {
	if err := d.beginTx(ctx); err != nil {
		return err
	}
	err := appendRows(ctx, d.conn, "", "", b.table.Name, b.table.Schema, b.rec, b.rowIndices())
	if err == nil {
		err = d.at("appended duckdb")
	}
	if err != nil {
		return errors.Join(fmt.Errorf("load: duckdb: appending to %s: %w", b.table.Name, err), d.rollback())
	}
	return nil
}

// finish ends DuckDB's prepare, once stage has run and the other sinks
// have prepared: it records their files and the marks in the open
// transaction. On error the transaction is rolled back.
func (d *duckSink) finish(ctx context.Context, b *factBatch) (pending, error) {
	err := func() error {
		if err := insertFiles(ctx, d.conn, b.files, d.runID); err != nil {
			return err
		}
		if b.iceberg != nil {
			if err := b.iceberg.recordPending(ctx, d.conn, d.runID); err != nil {
				return err
			}
		}
		return applyMarks(ctx, d.conn, b.marks, d.runID)
	}()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("load: duckdb: %w", err), d.rollback())
	}
	return &duckPending{d: d, files: b.files}, nil
}

// duckPending is a batch written inside an open DuckDB transaction.
type duckPending struct {
	d     *duckSink
	files []fileEntry
}

// commit commits the transaction: the commit point of a fact batch.
func (p *duckPending) commit(ctx context.Context) error { return p.d.commit(ctx, p.files) }

func (p *duckPending) abort() error { return p.d.rollback() }

func (d *duckSink) beginTx(ctx context.Context) error {
	if _, err := d.conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("load: duckdb: begin: %w", err)
	}
	return nil
}

// rollback ends the open transaction, if any. It ignores the caller's
// context: a cancelled context must still roll back.
func (d *duckSink) rollback() error {
	_, err := d.conn.ExecContext(context.Background(), "ROLLBACK")
	if err == nil || isTransactionError(err) {
		return nil
	}
	return fmt.Errorf("load: duckdb: rollback: %w", err)
}

// isTransactionError reports whether err is a DuckDB TransactionContext
// error. The only one a ROLLBACK gets is "cannot rollback - no transaction
// is active": inside a transaction, even an aborted one, ROLLBACK succeeds.
func isTransactionError(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de) && de.Type == duckdb.ErrorTypeTransaction
}

// commit commits the open transaction, which added files to the manifest.
// COMMIT ignores ctx's cancellation. If COMMIT fails, the manifest tells
// whether the transaction nevertheless committed (then commit returns nil);
// if even that cannot be told, the error wraps errCommitUnknown and the
// caller must leave the files for Open to reconcile with the manifest.
func (d *duckSink) commit(ctx context.Context, files []fileEntry) error {
	ctx = context.WithoutCancel(ctx)
	_, err := d.conn.ExecContext(ctx, "COMMIT")
	if err == nil {
		err = d.at("committed duckdb")
	}
	if err == nil {
		return nil
	}
	err = fmt.Errorf("load: duckdb: commit: %w", err)
	// DuckDB rolls back a transaction whose COMMIT fails; make sure the
	// connection is out of it, ignoring "no transaction is active".
	_ = d.rollback()
	if len(files) == 0 {
		return err
	}
	n, qerr := countFiles(ctx, d.conn, files)
	switch {
	case qerr != nil:
		return errors.Join(err, errCommitUnknown, qerr)
	case n == len(files):
		return nil // committed after all
	case n == 0:
		return err
	default:
		return errors.Join(err, errCommitUnknown, fmt.Errorf("%d of %d manifest rows present", n, len(files)))
	}
}

// inTx runs fn inside a transaction on the write connection and commits it;
// files are the manifest rows fn adds, if any (see commit).
func (d *duckSink) inTx(ctx context.Context, files []fileEntry, fn func() error) error {
	if err := d.beginTx(ctx); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return errors.Join(err, d.rollback())
	}
	return d.commit(ctx, files)
}

// upsertDimension replaces or inserts rows (indices into rec) of dimension
// table t, in one transaction: the rows are appended to a temporary stage
// table, then INSERT OR REPLACE'd into t, and the bridge rows of every
// staged parent are replaced (see replaceBridge). rows must not repeat an
// id.
func (d *duckSink) upsertDimension(ctx context.Context, t schemas.Table, rec arrow.RecordBatch, rows []int) error {
	cols := quotedColumns(t.Schema)
	return d.inTx(ctx, nil, func() error {
		if _, err := d.conn.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+stageTable+" AS SELECT "+cols+
			" FROM main."+quoteIdent(t.Name)+" LIMIT 0"); err != nil {
			return fmt.Errorf("load: duckdb: staging %s: %w", t.Name, err)
		}
		if err := appendRows(ctx, d.conn, "temp", "main", stageTable, t.Schema, rec, rows); err != nil {
			return fmt.Errorf("load: duckdb: staging %s: %w", t.Name, err)
		}
		if _, err := d.conn.ExecContext(ctx, "INSERT OR REPLACE INTO main."+quoteIdent(t.Name)+" ("+cols+") SELECT "+cols+
			" FROM temp.main."+stageTable); err != nil {
			return fmt.Errorf("load: duckdb: upserting %s: %w", t.Name, err)
		}
		for _, br := range schemas.BridgesOf(t) {
			if err := d.replaceBridge(ctx, br); err != nil {
				return fmt.Errorf("load: duckdb: replacing %s rows: %w", br.Name, err)
			}
		}
		if _, err := d.conn.ExecContext(ctx, "DROP TABLE temp.main."+stageTable); err != nil {
			return fmt.Errorf("load: duckdb: dropping the %s stage: %w", t.Name, err)
		}
		return nil
	})
}

// replaceBridge makes bridge table br's rows of every parent in the stage
// table exactly the elements of the parent's staged list: it deletes them
// and inserts the current ones (distinct, nulls left out), stamped like
// their parent. It runs inside the parent's upsert transaction, so readers
// never see a parent with another parent's version of its bridge rows.
func (d *duckSink) replaceBridge(ctx context.Context, br schemas.Table) error {
	b := br.Bridge
	parentCol, valueCol := quoteIdent(b.ParentColumn), quoteIdent(b.ValueColumn)
	stage := "temp.main." + stageTable
	if _, err := d.conn.ExecContext(ctx, "DELETE FROM main."+quoteIdent(br.Name)+" WHERE "+parentCol+
		" IN (SELECT "+quoteIdent(schemas.ColID)+" FROM "+stage+")"); err != nil {
		return err
	}
	meta := quoteList([]string{schemas.ColExtractedAt, schemas.ColRunID})
	_, err := d.conn.ExecContext(ctx, "INSERT INTO main."+quoteIdent(br.Name)+" ("+parentCol+", "+valueCol+", "+meta+")"+
		" SELECT DISTINCT p, v, "+meta+" FROM (SELECT "+quoteIdent(schemas.ColID)+" AS p, unnest("+quoteIdent(b.List)+") AS v, "+meta+
		" FROM "+stage+") WHERE v IS NOT NULL")
	return err
}

// scanTable reads every row of t, ordered by its key, into records of at most
// batchRows rows allocated from mem, and hands each to emit, which must not
// keep it past the call (scanTable releases it).
func (d *duckSink) scanTable(ctx context.Context, t schemas.Table, mem memory.Allocator, batchRows int, emit func(arrow.RecordBatch) error) error {
	rows, err := d.conn.QueryContext(ctx, "SELECT "+quotedColumns(t.Schema)+" FROM main."+quoteIdent(t.Name)+
		" ORDER BY "+quoteList(t.Key()))
	if err != nil {
		return fmt.Errorf("load: duckdb: reading %s: %w", t.Name, err)
	}
	defer rows.Close()

	rb := array.NewRecordBuilder(mem, t.Schema)
	defer rb.Release()
	appenders := make([]func(any) error, t.Schema.NumFields())
	for i := range appenders {
		if appenders[i], err = builderAppender(rb.Field(i)); err != nil {
			return fmt.Errorf("load: reading %s column %s: %w", t.Name, t.Schema.Field(i).Name, err)
		}
	}
	vals := make([]any, len(appenders))
	ptrs := make([]any, len(appenders))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	flush := func() error {
		rec := rb.NewRecordBatch()
		defer rec.Release()
		return emit(rec)
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("load: duckdb: reading %s: %w", t.Name, err)
		}
		for i, app := range appenders {
			if err := app(vals[i]); err != nil {
				return fmt.Errorf("load: reading %s column %s: %w", t.Name, t.Schema.Field(i).Name, err)
			}
		}
		if n++; n == batchRows {
			if err := flush(); err != nil {
				return err
			}
			n = 0
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load: duckdb: reading %s: %w", t.Name, err)
	}
	if n > 0 {
		return flush()
	}
	return nil
}

// appendRows appends rows (indices into rec, whose columns are sc's) to
// catalog.schema.table through a DuckDB Appender on conn, naming the columns
// so that columns the table has beyond sc get their default. The Appender
// writes into the connection's open transaction, if there is one.
func appendRows(ctx context.Context, conn *sql.Conn, catalog, schema, table string, sc *arrow.Schema, rec arrow.RecordBatch, rows []int) error {
	if len(rows) == 0 {
		return nil
	}
	getters := make([]func(int) driver.Value, sc.NumFields())
	names := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		g, err := valueGetter(rec.Column(i))
		if err != nil {
			return fmt.Errorf("column %s: %w", f.Name, err)
		}
		getters[i], names[i] = g, f.Name
	}
	return conn.Raw(func(dc any) error {
		drv, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		app, err := duckdb.NewAppenderWithColumns(drv, catalog, schema, table, names)
		if err != nil {
			return err
		}
		vals := make([]driver.Value, len(getters))
		for n, i := range rows {
			if n%8192 == 0 && ctx.Err() != nil {
				return errors.Join(ctx.Err(), app.Close())
			}
			for c, get := range getters {
				vals[c] = get(i)
			}
			if err := app.AppendRow(vals...); err != nil {
				return errors.Join(err, app.Close())
			}
		}
		return app.CloseWithCancel(ctx)
	})
}

// valueGetter returns a function that reads row i of a as the Go value the
// DuckDB Appender expects for the matching column type: int64, string, bool,
// time.Time (UTC midnight for dates, the instant for timestamps), []any of
// those for lists, or nil for null. It is driven by the Arrow type, never by
// the table.
func valueGetter(a arrow.Array) (func(int) driver.Value, error) {
	switch a := a.(type) {
	case *array.List:
		elem, err := valueGetter(a.ListValues())
		if err != nil {
			return nil, fmt.Errorf("list element: %w", err)
		}
		return func(i int) driver.Value {
			if a.IsNull(i) {
				return nil
			}
			start, end := a.ValueOffsets(i)
			out := make([]any, 0, end-start)
			for j := start; j < end; j++ {
				out = append(out, elem(int(j)))
			}
			return out
		}, nil
	case *array.Int64:
		return func(i int) driver.Value {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i)
		}, nil
	case *array.String:
		return func(i int) driver.Value {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i)
		}, nil
	case *array.LargeString:
		return func(i int) driver.Value {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i)
		}, nil
	case *array.Boolean:
		return func(i int) driver.Value {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i)
		}, nil
	case *array.Date32:
		return func(i int) driver.Value {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i).ToTime()
		}, nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return func(i int) driver.Value {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i).ToTime(unit)
		}, nil
	}
	return nil, fmt.Errorf("unsupported Arrow type %s", a.DataType())
}

// builderAppender returns a function that appends a value scanned from DuckDB
// (nil, int64, string, bool, time.Time, or []any of those for a list) to b.
// It is the inverse of valueGetter.
func builderAppender(b array.Builder) (func(any) error, error) {
	switch b := b.(type) {
	case *array.ListBuilder:
		elem, err := builderAppender(b.ValueBuilder())
		if err != nil {
			return nil, fmt.Errorf("list element: %w", err)
		}
		return appendAs(b, func(x []any) error {
			b.Append(true)
			for _, e := range x {
				if err := elem(e); err != nil {
					return err
				}
			}
			return nil
		}), nil
	case *array.Int64Builder:
		return appendAs(b, func(x int64) error { b.Append(x); return nil }), nil
	case *array.StringBuilder:
		return appendAs(b, func(x string) error { b.Append(x); return nil }), nil
	case *array.BooleanBuilder:
		return appendAs(b, func(x bool) error { b.Append(x); return nil }), nil
	case *array.Date32Builder:
		return appendAs(b, func(x time.Time) error { b.Append(arrow.Date32FromTime(x)); return nil }), nil
	case *array.TimestampBuilder:
		unit := b.Type().(*arrow.TimestampType).Unit
		return appendAs(b, func(x time.Time) error {
			ts, err := arrow.TimestampFromTime(x, unit)
			if err != nil {
				return err
			}
			b.Append(ts)
			return nil
		}), nil
	}
	return nil, fmt.Errorf("unsupported Arrow type %s", b.Type())
}

// appendAs is the appender of b for values that are nil (a null) or a T,
// which add appends.
func appendAs[T any](b array.Builder, add func(T) error) func(any) error {
	return func(v any) error {
		switch x := v.(type) {
		case nil:
			b.AppendNull()
			return nil
		case T:
			return add(x)
		default:
			return fmt.Errorf("cannot store %T in %s", v, b.Type())
		}
	}
}

// sqlType is how an Arrow type is spelled in DuckDB DDL and how
// information_schema.columns reports it.
type sqlType struct{ ddl, describe string }

func duckType(t arrow.DataType) (sqlType, error) {
	switch t := t.(type) {
	case *arrow.Int64Type:
		return sqlType{"BIGINT", "BIGINT"}, nil
	case *arrow.StringType, *arrow.LargeStringType:
		return sqlType{"VARCHAR", "VARCHAR"}, nil
	case *arrow.BooleanType:
		return sqlType{"BOOLEAN", "BOOLEAN"}, nil
	case *arrow.Date32Type:
		return sqlType{"DATE", "DATE"}, nil
	case *arrow.TimestampType:
		if t.Unit != arrow.Microsecond {
			break
		}
		if t.TimeZone == "" {
			return sqlType{"TIMESTAMP", "TIMESTAMP"}, nil
		}
		return sqlType{"TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"}, nil
	case *arrow.ListType:
		elem, err := duckType(t.Elem())
		if err != nil {
			break
		}
		return sqlType{elem.ddl + "[]", elem.describe + "[]"}, nil
	}
	return sqlType{}, fmt.Errorf("no DuckDB type for Arrow type %s", t)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quotedColumns(sc *arrow.Schema) string {
	cols := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		cols[i] = f.Name
	}
	return quoteList(cols)
}

// quoteList quotes names and joins them with commas.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}
