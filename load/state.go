package load

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// internalTables returns the DDL of the internal tables. Timestamps are
// TIMESTAMPTZ, stored at microsecond precision (finer digits of a time.Time
// are truncated).
//
//   - _labtrail_watermarks: one row per stream; value is the newest source
//     timestamp whose rows are all stored. Written only in the transaction
//     that commits those rows (or by SetWatermarks).
//   - _labtrail_files: the manifest. One row per committed fact Parquet
//     file; path is relative to ParquetDir, with '/' separators. Open deletes
//     fact files not listed here.
//   - _labtrail_runs: one row per run (RecordRun upserts by run_id).
//     rows_json is a JSON object {"<table>": <rows added>, ...} stored as
//     VARCHAR; query it with e.g. rows_json->>'events' or
//     json_extract(rows_json, '$.events')::BIGINT. future_rows counts rows
//     dated past the server's clock, stored but kept from moving a
//     watermark; unparsed_notes counts activity rows whose system-note body
//     no rule knew (action 'other').
//   - _labtrail_windows: see Window.
//   - _labtrail_availability: see Availability. Older warehouses kept it as
//     watermark rows whose stream ended in "#unavailable" (1970 meaning
//     cleared); the last two statements move those rows over, once.
func internalTables() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS _labtrail_watermarks (
	pipeline   VARCHAR NOT NULL,
	scope      VARCHAR NOT NULL,
	stream     VARCHAR NOT NULL,
	"value"    TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	run_id     VARCHAR,
	PRIMARY KEY (pipeline, scope, stream)
)`,
		`CREATE TABLE IF NOT EXISTS _labtrail_files (
	table_name VARCHAR NOT NULL,
	path       VARCHAR NOT NULL PRIMARY KEY,
	"rows"     BIGINT NOT NULL,
	run_id     VARCHAR,
	created_at TIMESTAMPTZ NOT NULL
)`,
		`CREATE TABLE IF NOT EXISTS _labtrail_runs (
	run_id      VARCHAR NOT NULL PRIMARY KEY,
	started_at  TIMESTAMPTZ,
	ended_at    TIMESTAMPTZ,
	outcome     VARCHAR,
	error       VARCHAR,
	rows_json   VARCHAR,
	requests    BIGINT,
	retries     BIGINT,
	throttled   BIGINT,
	bytes       BIGINT,
	recorded_at TIMESTAMPTZ NOT NULL
)`,
		// Added after the first release; older warehouses gain it on open.
		`ALTER TABLE _labtrail_runs ADD COLUMN IF NOT EXISTS future_rows BIGINT`,
		`ALTER TABLE _labtrail_runs ADD COLUMN IF NOT EXISTS unparsed_notes BIGINT`,
		`CREATE TABLE IF NOT EXISTS _labtrail_availability (
	pipeline   VARCHAR NOT NULL,
	scope      VARCHAR NOT NULL,
	stream     VARCHAR NOT NULL,
	available  BOOLEAN NOT NULL,
	checked_at TIMESTAMPTZ NOT NULL,
	reason     VARCHAR,
	run_id     VARCHAR,
	PRIMARY KEY (pipeline, scope, stream)
)`,
		`INSERT INTO _labtrail_availability
	SELECT pipeline, scope, ` + legacyStream + `, ` + legacyCleared + `, ` + legacyCheckedAt + `,
		CASE WHEN ` + legacyCleared + ` THEN NULL ELSE 'not licensed or not allowed (recorded by an older labtrail)' END, run_id
	FROM _labtrail_watermarks WHERE ` + legacyMarker + `
	ON CONFLICT DO NOTHING`,
		`DELETE FROM _labtrail_watermarks WHERE ` + legacyMarker,
		`CREATE TABLE IF NOT EXISTS _labtrail_windows (
	pipeline   VARCHAR NOT NULL,
	scope      VARCHAR NOT NULL,
	stream     VARCHAR NOT NULL,
	first_day  DATE NOT NULL,
	last_day   DATE NOT NULL,
	newest     TIMESTAMPTZ,
	run_id     VARCHAR,
	PRIMARY KEY (pipeline, scope, stream, first_day)
)`,
	}
}

// WatermarkKey names one incremental stream: which pipeline, which scope
// (project, group, instance...) and which stream of that scope.
type WatermarkKey struct{ Pipeline, Scope, Stream string }

// A Mark is stream state that AppendFacts commits in the transaction that
// stores the rows it covers, so that it never claims rows that are not
// stored: a Watermark, or a finished Window of a listing read in windows.
type Mark interface {
	check() error
	// addTo adds the mark to s, the marks of one transaction.
	addTo(s *markSet)
}

// Watermark is the position of one stream: every row the stream produced up
// to Value is stored. Writing it also forgets the stream's finished
// Windows: they recorded progress towards this watermark.
type Watermark struct {
	WatermarkKey
	Value time.Time
}

// Watermark returns the stored value of k, in UTC, and whether there is one.
func (w *Warehouse) Watermark(ctx context.Context, k WatermarkKey) (time.Time, bool, error) {
	defer w.reading()()
	if w.closed.Load() {
		return time.Time{}, false, ErrClosed
	}
	var v time.Time
	err := w.db.QueryRowContext(ctx, `SELECT "value" FROM _labtrail_watermarks WHERE pipeline = ? AND scope = ? AND stream = ?`,
		k.Pipeline, k.Scope, k.Stream).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("load: reading watermark %s/%s/%s: %w", k.Pipeline, k.Scope, k.Stream, err)
	}
	return v.UTC(), true, nil
}

// Watermarks returns every stored watermark, ordered by pipeline, scope and
// stream.
func (w *Warehouse) Watermarks(ctx context.Context) ([]Watermark, error) {
	if w.closed.Load() {
		return nil, ErrClosed
	}
	return readMarks(ctx, w.db, "_labtrail_watermarks")
}

// readMarks returns every watermark of table (this warehouse's, or an
// attached earlier layout's), ordered by pipeline, scope and stream, in
// UTC.
func readMarks(ctx context.Context, q execer, table string) ([]Watermark, error) {
	var out []Watermark
	err := scanRows(ctx, q, `SELECT pipeline, scope, stream, "value" FROM `+table+` ORDER BY pipeline, scope, stream`, func(rows *sql.Rows) error {
		var m Watermark
		err := rows.Scan(&m.Pipeline, &m.Scope, &m.Stream, &m.Value)
		m.Value = m.Value.UTC()
		out = append(out, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load: reading watermarks from %s: %w", table, err)
	}
	return out, nil
}

// SetWatermarks stores marks in one transaction, as given: it does not
// refuse to move a watermark backwards (callers decide; a full refresh may
// want exactly that). If marks repeats a key, the last one wins. Use it only
// for streams whose rows need no storing; otherwise pass the marks to
// AppendFacts so they commit with the rows.
func (w *Warehouse) SetWatermarks(ctx context.Context, marks ...Watermark) error {
	if err := checkMarks(marks); err != nil {
		return err
	}
	unlock, err := w.begin()
	if err != nil {
		return err
	}
	defer unlock()
	return setMarksLocked(ctx, w, marks)
}

func setMarksLocked[M Mark](ctx context.Context, w *Warehouse, marks []M) error {
	if len(marks) == 0 {
		return nil
	}
	return w.duck.inTx(ctx, nil, func() error { return applyMarks(ctx, w.conn, marks, w.runID) })
}

func (m Watermark) check() error {
	if m.Value.IsZero() {
		return fmt.Errorf("load: watermark %s/%s/%s has a zero value", m.Pipeline, m.Scope, m.Stream)
	}
	return nil
}

func (m Watermark) addTo(s *markSet) { s.addWatermark(m) }

func checkMarks[M Mark](marks []M) error {
	for _, m := range marks {
		if err := m.check(); err != nil {
			return err
		}
	}
	return nil
}

// applyMarks writes marks through q (inside the caller's transaction), in
// at most three statements whatever their number: a batch of a windowed
// listing carries a mark per finished window, and a statement each (one
// prepare, plan and index probe apiece) took 1.3 s of a 17 s run at
// concurrency 32, under the lock every store waits for. The effect is that
// of writing them one by one in order: of watermarks repeating a key the
// last one wins, and a watermark forgets its key's windows, stored or given
// before it.
func applyMarks[M Mark](ctx context.Context, q execer, marks []M, runID string) error {
	var s markSet
	for _, m := range marks {
		m.addTo(&s)
	}
	return s.write(ctx, q, runID)
}

// markSet is what a sequence of marks leaves behind: the last watermark of
// each key, and the windows given after their key's last watermark (the
// last of each first day).
type markSet struct {
	watermarks []Watermark // one per key
	windows    []Window    // one per key and first day
}

func (s *markSet) addWatermark(m Watermark) {
	s.windows = slices.DeleteFunc(s.windows, func(w Window) bool { return w.WatermarkKey == m.WatermarkKey })
	s.watermarks = slices.DeleteFunc(s.watermarks, func(w Watermark) bool { return w.WatermarkKey == m.WatermarkKey })
	s.watermarks = append(s.watermarks, m)
}

func (s *markSet) addWindow(m Window) {
	s.windows = slices.DeleteFunc(s.windows, func(w Window) bool {
		return w.WatermarkKey == m.WatermarkKey && w.First.Format(time.DateOnly) == m.First.Format(time.DateOnly)
	})
	s.windows = append(s.windows, m)
}

func (s *markSet) write(ctx context.Context, q execer, runID string) error {
	if len(s.watermarks) > 0 {
		var rows, keys []string
		var args, keyArgs []any
		for _, m := range s.watermarks {
			rows = append(rows, "(?, ?, ?, ?, now(), ?)")
			args = append(args, m.Pipeline, m.Scope, m.Stream, m.Value.UTC(), runID)
			keys = append(keys, "(pipeline = ? AND scope = ? AND stream = ?)")
			keyArgs = append(keyArgs, m.Pipeline, m.Scope, m.Stream)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO _labtrail_watermarks (pipeline, scope, stream, "value", updated_at, run_id)
		VALUES `+strings.Join(rows, ", ")+`
		ON CONFLICT (pipeline, scope, stream) DO UPDATE SET
			"value" = excluded."value", updated_at = excluded.updated_at, run_id = excluded.run_id`, args...); err != nil {
			return fmt.Errorf("storing watermarks %s: %w", markNames(s.watermarks), err)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM _labtrail_windows WHERE `+strings.Join(keys, " OR "), keyArgs...); err != nil {
			return fmt.Errorf("forgetting the windows of %s: %w", markNames(s.watermarks), err)
		}
	}
	if len(s.windows) > 0 {
		var rows []string
		var args []any
		for _, m := range s.windows {
			rows = append(rows, "(?, ?, ?, ?::DATE, ?::DATE, ?, ?)")
			args = append(args, m.Pipeline, m.Scope, m.Stream, m.First.Format(time.DateOnly), m.Last.Format(time.DateOnly), nullTime(m.Newest), runID)
		}
		if _, err := q.ExecContext(ctx, `INSERT OR REPLACE INTO _labtrail_windows (pipeline, scope, stream, first_day, last_day, newest, run_id)
		VALUES `+strings.Join(rows, ", "), args...); err != nil {
			w := s.windows[0]
			return fmt.Errorf("storing %d windows of %s/%s/%s from %s: %w", len(s.windows), w.Pipeline, w.Scope, w.Stream, w.First.Format(time.DateOnly), err)
		}
	}
	return nil
}

// markNames names the streams of marks for an error message.
func markNames(marks []Watermark) string {
	names := make([]string, len(marks))
	for i, m := range marks {
		names[i] = m.Pipeline + "/" + m.Scope + "/" + m.Stream
	}
	return strings.Join(names, ", ")
}

// RunRecord summarises one run for _labtrail_runs. Rows counts the rows each
// table gained (stored as a JSON object in rows_json).
type RunRecord struct {
	RunID                               string
	Start, End                          time.Time
	Outcome                             string
	Error                               string
	Rows                                map[string]int64
	Requests, Retries, Throttled, Bytes int64
	FutureRows                          int64
	// UnparsedNotes counts the system notes stored with action 'other'.
	UnparsedNotes int64
}

// RecordRun stores r as the one row of r.RunID in _labtrail_runs, replacing
// the row an earlier call stored for the same run. Zero times are stored as
// NULL.
func (w *Warehouse) RecordRun(ctx context.Context, r RunRecord) error {
	if r.RunID == "" {
		return errors.New("load: recording a run: RunRecord.RunID is empty")
	}
	rows := r.Rows
	if rows == nil {
		rows = map[string]int64{}
	}
	rowsJSON, err := json.Marshal(rows) // map keys come out sorted
	if err != nil {
		return fmt.Errorf("load: recording run %s: %w", r.RunID, err)
	}
	unlock, err := w.begin()
	if err != nil {
		return err
	}
	defer unlock()
	_, err = w.conn.ExecContext(ctx, `INSERT OR REPLACE INTO _labtrail_runs
		(run_id, started_at, ended_at, outcome, error, rows_json, requests, retries, throttled, bytes, future_rows, unparsed_notes, recorded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())`,
		r.RunID, nullTime(r.Start), nullTime(r.End), r.Outcome, r.Error, string(rowsJSON),
		r.Requests, r.Retries, r.Throttled, r.Bytes, r.FutureRows, r.UnparsedNotes)
	if err != nil {
		return fmt.Errorf("load: recording run %s: %w", r.RunID, err)
	}
	return nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// execer is what the state helpers need from a connection.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// fileEntry is one row of the _labtrail_files manifest.
type fileEntry struct {
	table string
	path  string // relative to ParquetDir, '/'-separated
	rows  int64
}

// insertFiles adds files to the manifest through q.
func insertFiles(ctx context.Context, q execer, files []fileEntry, runID string) error {
	if len(files) == 0 {
		return nil
	}
	rows := make([]string, len(files))
	args := make([]any, 0, 4*len(files))
	for i, f := range files {
		rows[i] = "(?, ?, ?, ?, now())"
		args = append(args, f.table, f.path, f.rows, runID)
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO _labtrail_files (table_name, path, "rows", run_id, created_at) VALUES `+strings.Join(rows, ", "), args...); err != nil {
		return fmt.Errorf("recording %d files (%s first) in the manifest: %w", len(files), files[0].path, err)
	}
	return nil
}

// deleteFiles removes paths from the manifest through q.
func deleteFiles(ctx context.Context, q execer, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM _labtrail_files WHERE path IN (SELECT unnest(?::VARCHAR[]))`, paths); err != nil {
		return fmt.Errorf("removing %d files from the manifest: %w", len(paths), err)
	}
	return nil
}

// countFiles returns how many of files the manifest lists.
func countFiles(ctx context.Context, q execer, files []fileEntry) (int, error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.path
	}
	rows, err := q.QueryContext(ctx, `SELECT count(*) FROM _labtrail_files WHERE path IN (SELECT unnest(?::VARCHAR[]))`, paths)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

// loadManifest returns every manifest row, ordered by path.
func loadManifest(ctx context.Context, q execer) ([]fileEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT table_name, path, "rows" FROM _labtrail_files ORDER BY path`)
	if err != nil {
		return nil, fmt.Errorf("load: reading the file manifest: %w", err)
	}
	defer rows.Close()
	var out []fileEntry
	for rows.Next() {
		var f fileEntry
		if err := rows.Scan(&f.table, &f.path, &f.rows); err != nil {
			return nil, fmt.Errorf("load: reading the file manifest: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load: reading the file manifest: %w", err)
	}
	return out, nil
}
