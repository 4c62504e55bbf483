package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/labtrail/labtrail/schemas"
)

// The exactly-once protocol relies on the Appender writing into the
// connection's open transaction.
func TestAppenderRollsBackWithTransaction(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	rec := buildRecord(t, e.alloc, schemas.Events, events(t, "2024-03-01T00:00:00Z", 1, 2, 3)...)
	defer rec.Release()

	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.duck.beginTx(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := appendRows(e.ctx, w.conn, "", "", "events", schemas.Events.Schema, rec, []int{0, 2}); err != nil {
		t.Fatal(err)
	}
	var inside, outside int
	if err := w.conn.QueryRowContext(e.ctx, "SELECT count(*) FROM events").Scan(&inside); err != nil {
		t.Fatal(err)
	}
	if err := w.db.QueryRowContext(e.ctx, "SELECT count(*) FROM events").Scan(&outside); err != nil {
		t.Fatal(err)
	}
	if inside != 2 || outside != 0 {
		t.Errorf("inside the transaction %d rows, outside %d; want 2, 0", inside, outside)
	}
	if err := w.duck.rollback(); err != nil {
		t.Fatal(err)
	}
	if err := w.conn.QueryRowContext(e.ctx, "SELECT count(*) FROM events").Scan(&inside); err != nil {
		t.Fatal(err)
	}
	if inside != 0 {
		t.Errorf("%d rows after ROLLBACK", inside)
	}
	// A duplicate key fails the append (the PRIMARY KEY is the last line
	// of defence against double loads).
	if err := w.duck.inTx(e.ctx, nil, func() error {
		return appendRows(e.ctx, w.conn, "", "", "events", schemas.Events.Schema, rec, []int{0, 0})
	}); err == nil {
		t.Error("duplicate ids appended")
	}
	if err := w.conn.QueryRowContext(e.ctx, "SELECT count(*) FROM events").Scan(&inside); err != nil || inside != 0 {
		t.Errorf("%d rows, %v", inside, err)
	}
}

// rollback on a connection with no open transaction (DuckDB has already
// rolled back a transaction whose COMMIT failed) is not an error. DuckDB
// reports that case as a *duckdb.Error of type ErrorTypeTransaction, which is
// what rollback matches, not the message text; any other failure is reported.
func TestRollbackWithoutTransaction(t *testing.T) {
	ctx := context.Background()
	conn, err := memDB(t).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	_, err = conn.ExecContext(ctx, "ROLLBACK")
	var de *duckdb.Error
	if !errors.As(err, &de) || de.Type != duckdb.ErrorTypeTransaction {
		t.Fatalf("ROLLBACK outside a transaction: %T %v; want a *duckdb.Error of type ErrorTypeTransaction", err, err)
	}

	d := &duckSink{conn: conn, at: func(string) error { return nil }}
	if err := d.rollback(); err != nil {
		t.Errorf("rollback outside a transaction: %v", err)
	}
	// A transaction ended inside fn: the caller sees fn's error alone.
	boom := errors.New("boom")
	err = d.inTx(ctx, nil, func() error {
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		return boom
	})
	if !errors.Is(err, boom) || err.Error() != "boom" {
		t.Errorf("inTx = %v; want boom alone", err)
	}
	// An aborted transaction still rolls back.
	if err := d.beginTx(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT 1/0::INTEGER + 'x'"); err == nil {
		t.Fatal("bad query accepted")
	}
	if err := d.rollback(); err != nil {
		t.Errorf("rollback of an aborted transaction: %v", err)
	}
	// Anything else is an error.
	conn.Close()
	if err := d.rollback(); !errors.Is(err, sql.ErrConnDone) {
		t.Errorf("rollback on a closed connection = %v; want sql.ErrConnDone", err)
	}
}

func TestSchemaEvolution(t *testing.T) {
	e := newEnv(t)
	path := e.opts("").DuckDBPath
	db := mustOpenDuckDB(t, path)
	// events as an older labtrail created it: fewer columns, one row.
	if _, err := db.Exec(`CREATE TABLE events (id BIGINT NOT NULL, project_id BIGINT, PRIMARY KEY (id));
		INSERT INTO events VALUES (1, 7)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	w := e.open("run1")
	var cols []string
	for _, f := range schemas.Events.Schema.Fields() {
		typ, _ := duckType(f.Type)
		cols = append(cols, f.Name+"|"+typ.describe)
	}
	if got := query(t, w.DB(), "SELECT column_name, column_type FROM (DESCRIBE events)"); !slices.Equal(got, cols) {
		t.Errorf("columns\n%q\nwant\n%q", got, cols)
	}
	if got := query(t, w.DB(), "SELECT id, project_id, action_name FROM events"); !slices.Equal(got, []string{"1|7|NULL"}) {
		t.Errorf("rows %q", got)
	}
	// The old row counts as stored.
	alloc := e.alloc
	rec := buildRecord(t, alloc, schemas.Events, events(t, "2024-03-01T00:00:00Z", 1, 2)...)
	n, err := w.AppendFacts(e.ctx, schemas.Events, rec)
	rec.Release()
	if err != nil || n != 1 {
		t.Errorf("added %d, %v", n, err)
	}
	e.close(w)
	alloc.AssertSize(t, 0)

	// A retyped column is refused.
	db, err = sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE users; CREATE TABLE users (id BIGINT PRIMARY KEY, username BIGINT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(e.ctx, e.opts("run2")); err == nil || !strings.Contains(err.Error(), "username") {
		t.Errorf("Open with a retyped column: %v", err)
	}
	// ... and the failed Open released the lock.
	db, err = sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE users`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	w = e.open("run3")
	e.close(w)
}

// TestOpenPreparesTablesAllOrNothing: Open prepares every table in one
// transaction, so an Open refused for a retyped column leaves the file as
// it found it: no table created, no column added.
func TestOpenPreparesTablesAllOrNothing(t *testing.T) {
	e := newEnv(t)
	path := e.opts("").DuckDBPath
	db := mustOpenDuckDB(t, path)
	if _, err := db.Exec(`CREATE TABLE events (id BIGINT NOT NULL, project_id BIGINT, PRIMARY KEY (id));
		CREATE TABLE users (id BIGINT PRIMARY KEY, username BIGINT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(e.ctx, e.opts("run1")); err == nil || !strings.Contains(err.Error(), "username") {
		t.Fatalf("Open with a retyped column: %v", err)
	}
	db = mustOpenDuckDB(t, path)
	defer db.Close()
	if got := query(t, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"); !slices.Equal(got, []string{"events", "users"}) {
		t.Errorf("tables after the refused Open: %q", got)
	}
	if got := query(t, db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'events'"); !slices.Equal(got, []string{"2"}) {
		t.Errorf("events has %s columns after the refused Open, want 2", got)
	}
}

func TestDimensions(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	db := w.DB()
	upsert := func(tbl schemas.Table, rows ...row) { t.Helper(); e.upsert(w, tbl, rows...) }
	upsert(schemas.Users,
		row{"id": 1, "username": "ann", "name": "Ann", "state": "active"},
		row{"id": 2, "username": "bob", "name": "Bob", "state": "active"})
	upsert(schemas.Users,
		row{"id": 2, "username": "bob", "name": "Robert", "state": "blocked"},
		row{"id": 3, "username": "cy", "name": "Cy 1"},
		row{"id": 3, "username": "cy", "name": "Cy 2", "state": "active"})
	want := []string{"1|ann|Ann|active", "2|bob|Robert|blocked", "3|cy|Cy 2|active"}
	if got := query(t, db, "SELECT id, username, name, state FROM users ORDER BY id"); !slices.Equal(got, want) {
		t.Errorf("users = %q, want %q", got, want)
	}
	closed := mustTime(t, "2024-02-03T04:05:06.789+01:00")
	upsert(schemas.Issues, row{"id": 5, "iid": 1, "project_id": 7, "title": "t", "state": "closed",
		"created_at": mustTime(t, "2024-01-01T00:00:00Z"), "closed_at": closed})
	upsert(schemas.Milestones, row{"id": 8, "title": "v1", "due_date": time.Date(2024, 7, 31, 0, 0, 0, 0, time.UTC)})

	if err := w.PublishDimensions(e.ctx); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range schemas.All() {
		if tbl.Kind != schemas.Dimension {
			continue
		}
		file := filepath.Join(e.pq(), tbl.Name, "data.parquet")
		fromDuck := query(t, db, "SELECT * FROM "+tbl.Name+" ORDER BY id")
		fromParquet := query(t, db, "SELECT * FROM read_parquet(?) ORDER BY id", file)
		if !slices.Equal(fromDuck, fromParquet) {
			t.Errorf("%s: duckdb %q, parquet %q", tbl.Name, fromDuck, fromParquet)
		}
	}
	if got := query(t, db, "SELECT column_type FROM (DESCRIBE SELECT closed_at FROM read_parquet(?))", filepath.Join(e.pq(), "issues", "data.parquet")); !slices.Equal(got, []string{"TIMESTAMP WITH TIME ZONE"}) {
		t.Errorf("closed_at type %q", got)
	}
	var got time.Time
	if err := db.QueryRow("SELECT closed_at FROM read_parquet(?)", filepath.Join(e.pq(), "issues", "data.parquet")).Scan(&got); err != nil || !got.Equal(closed) {
		t.Errorf("closed_at = %v, %v", got, err)
	}
	if got := query(t, db, "SELECT due_date::VARCHAR FROM read_parquet(?)", filepath.Join(e.pq(), "milestones", "data.parquet")); !slices.Equal(got, []string{"2024-07-31"}) {
		t.Errorf("due_date = %q", got)
	}

	// Republished after a change, the file is replaced.
	upsert(schemas.Users, row{"id": 1, "username": "ann", "name": "Annie", "state": "active"})
	if err := w.PublishDimensions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := query(t, db, "SELECT name FROM read_parquet(?) ORDER BY id", filepath.Join(e.pq(), "users", "data.parquet")); !slices.Equal(got, []string{"Annie", "Robert", "Cy 2"}) {
		t.Errorf("republished users = %q", got)
	}
	if f := parquetFiles(t, filepath.Join(e.pq(), ".staging")); len(f) != 0 {
		t.Errorf("staging left %q", f)
	}
}

// A write trims DuckDB's block cache (trimCache) and leaves its memory limit
// where it was: a limit left at duckTrimLimit would fail the next commits.
// (What the trim frees is measured by BenchmarkPeakRSS, not here: DuckDB's
// automatic checkpoints free blocks too, so a small test cannot tell.)
func TestTrimCacheRestoresTheMemoryLimit(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	limit := func() string {
		t.Helper()
		var v string
		if err := w.DB().QueryRow("SELECT current_setting('memory_limit')").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := limit()
	for round := range 6 {
		var rows []row
		for i := range 20_000 {
			rows = append(rows, row{"id": round*20_000 + i + 1, "project_id": 7, "action_name": "pushed to",
				"push_ref": fmt.Sprintf("%d-%s", i, strings.Repeat("x", 200))})
		}
		e.mustAppend(w, schemas.Events, rows)
	}
	if after := limit(); after != before {
		t.Errorf("memory_limit %s after the writes, %s before", after, before)
	}
}

// A writer checkpoints itself once the write-ahead log reaches
// duckCheckpointWAL (checkpointIfDue), since DuckDB's own threshold is
// set out of reach: the log stays bounded by that plus one batch, every
// row is still there, and DuckDB is back on duckThreads threads after.
func TestWriterCheckpointsTheWAL(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	wal := e.opts("run1").DuckDBPath + ".wal"
	var largest, folds int64
	prev := int64(0)
	const rounds, perRound = 8, 20_000
	for round := range rounds {
		var rows []row
		for i := range perRound {
			rows = append(rows, row{"id": round*perRound + i + 1, "project_id": 7, "action_name": "pushed to",
				"push_ref": fmt.Sprintf("%d-%s", i, strings.Repeat("x", 200))})
		}
		e.mustAppend(w, schemas.Events, rows)
		st, err := os.Stat(wal)
		size := int64(0)
		if err == nil {
			size = st.Size()
		}
		largest = max(largest, size)
		if size < prev {
			folds++
		}
		prev = size
	}
	if folds == 0 {
		t.Errorf("the write-ahead log never shrank over %d batches (largest %d bytes): no checkpoint ran", rounds, largest)
	}
	if largest >= 2*duckCheckpointWAL {
		t.Errorf("the write-ahead log reached %d bytes; it is checkpointed from %d", largest, duckCheckpointWAL)
	}
	var n int64
	var threads string
	if err := w.DB().QueryRow("SELECT count(*), current_setting('threads') FROM events").Scan(&n, &threads); err != nil {
		t.Fatal(err)
	}
	if n != rounds*perRound || threads != strconv.Itoa(duckThreads) {
		t.Errorf("after the writes: %d rows on %s threads, want %d on %d", n, threads, rounds*perRound, duckThreads)
	}
}

// A warehouse labtrail creates has duckBlockSize blocks, and one created
// before, with DuckDB's 256 KiB, keeps them: it opens, takes batches and
// reopens as before (DuckDB reads the size from the file).
func TestOpenBlockSize(t *testing.T) {
	blockSize := func(t *testing.T, db *sql.DB) int64 {
		t.Helper()
		return queryInt(t, db, "SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()")
	}
	want, err := strconv.ParseInt(duckBlockSize, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("new", func(t *testing.T) {
		e := newEnv(t)
		defer e.alloc.AssertSize(t, 0)
		w := e.open("run1")
		defer e.close(w)
		if got := blockSize(t, w.DB()); got != want {
			t.Errorf("a new warehouse has %d-byte blocks, want %d", got, want)
		}
	})
	t.Run("older", func(t *testing.T) {
		e := newEnv(t)
		defer e.alloc.AssertSize(t, 0)
		old := mustOpenDuckDB(t, e.opts("").DuckDBPath+"?default_block_size=262144")
		if _, err := old.Exec("CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		for i, run := range []string{"run1", "run2"} {
			w := e.open(run)
			if got := blockSize(t, w.DB()); got != 262144 {
				t.Errorf("%s: the older warehouse has %d-byte blocks, want 262144", run, got)
			}
			e.mustAppend(w, schemas.Events, events(t, "2024-03-01T00:00:00Z", 10*i+1, 10*i+2))
			if n := queryInt(t, w.DB(), "SELECT count(*) FROM events"); n != int64(2*(i+1)) {
				t.Errorf("%s: %d events, want %d", run, n, 2*(i+1))
			}
			e.close(w)
		}
	})
}
