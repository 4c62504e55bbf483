// Package load stores labtrail tables in the local warehouse: one DuckDB file
// and a directory of Parquet datasets that any engine can read.
//
// # Layout
//
//	<DuckDBPath>                      every table, plus _labtrail_watermarks,
//	                                  _labtrail_files and _labtrail_runs
//	<DuckDBPath>.lock                 flock held by the one writing process
//	<ParquetDir>/<fact>/created_month=YYYY-MM/<run>-<seq>.parquet
//	<ParquetDir>/<fact>/created_month=unknown/...   rows with a null created_at
//	<ParquetDir>/<dimension or bridge>/data.parquet
//	<ParquetDir>/.staging/            files being written; disposable
//	<ParquetDir>/.compact/            partitions being compacted (see Compact)
//
// Readers use read_parquet('<ParquetDir>/<table>/**/*.parquet',
// hive_partitioning = true, union_by_name = true); they never see a
// half-written file, because every file is written under .staging, fsynced and
// renamed into place.
//
// ParquetDir may instead be a bucket and prefix (s3://, gs://, azblob://):
// the same layout without .staging and .compact, written through
// gocloud.dev/blob. The storage behind the datasets is a tree (tree.go):
// dirTree keeps the rename protocol described here, bucketTree replaces
// rename by unique keys, conditional writes and the manifest (see its doc
// for what a reader listing the prefix can see).
//
// # Exactly once
//
// A fact row is stored at most once per id in each sink, and a watermark is
// advanced only in the DuckDB transaction that stores the rows it covers.
// DuckDB is the source of truth: the _labtrail_files manifest, committed in
// that same transaction, lists every Parquet file whose rows are committed.
// Open deletes fact files the manifest does not list (they belong to a batch
// whose transaction never committed, so its rows will be fetched and written
// again), which is what keeps read_parquet from ever returning a row twice.
// See AppendFacts for the protocol.
//
// # Iceberg
//
// With Options.Iceberg, every table is also an Iceberg table. A fact
// batch's data files are a third sink, prepared before DuckDB's commit and
// appended after it, the batch recorded in _labtrail_iceberg_pending in
// between so that Open can finish it: see iceberg_facts.go.
package load

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver

	"github.com/labtrail/labtrail/internal/fsx"
	"github.com/labtrail/labtrail/schemas"
)

// Options configure Open.
type Options struct {
	// DuckDBPath is the DuckDB database file, e.g. warehouse/gitlab.duckdb.
	// Missing parent directories are created.
	DuckDBPath string
	// ParquetDir is the root of the Parquet datasets: a directory, e.g.
	// warehouse/parquet, or a bucket and prefix, s3://bucket/prefix,
	// gs://bucket/prefix or azblob://container/prefix (see bucketTree).
	ParquetDir string
	// ObjectStore reaches an S3-compatible server for an s3:// ParquetDir;
	// zero for AWS itself, ignored for other locations.
	ObjectStore ObjectStore
	// RunID identifies this run in _labtrail_* tables and in Parquet file
	// names (characters other than [A-Za-z0-9._-] are replaced by '_' in
	// names). Empty means a generated id (UTC time plus random suffix).
	RunID string
	// Logger receives reconciliation warnings and the like; nil discards.
	Logger *slog.Logger
	// Alloc allocates every Arrow buffer the warehouse creates; nil means
	// memory.DefaultAllocator.
	Alloc memory.Allocator
	// RedactInternalNotes makes Open null the stored bodies of internal
	// notes (events rows with note_internal true), in DuckDB and Parquet:
	// set it whenever the run redacts internal notes, so that a warehouse
	// that kept them and is switched to redacting stops showing them.
	RedactInternalNotes bool
	// Views configures the history views Open creates or replaces: every
	// opener that writes (a run, compact) must pass the config's, or the
	// views would lose its stages until the next run.
	Views ViewOptions
	// Previous are the DuckDB files of this warehouse's earlier shard
	// layouts (labtrail run --shard K/N with another N), attached
	// read-only: their fact rows count as stored, so that a row stored
	// under the old layout is never stored again, and the watermarks,
	// windows and availability of the scopes Adopt accepts are copied
	// from them where theirs are newer. A file another process is writing
	// makes Open fail. Nothing is ever written to them.
	Previous []string
	// Adopt reports whether this warehouse reads the scope (a scope key
	// such as "project:42"); nil adopts nothing.
	Adopt func(scope string) bool
	// Iceberg, when set, also writes every table to Apache Iceberg (see
	// iceberg.go and iceberg_facts.go for the protocol).
	Iceberg *IcebergOptions
}

// ErrLocked is returned (wrapped) by Open when another process, or another
// Warehouse in this process, holds the warehouse.
var ErrLocked = errors.New("warehouse is locked by another labtrail")

// ErrClosed is returned (wrapped) by methods called after Close.
var ErrClosed = errors.New("warehouse is closed")

// Warehouse is an open, exclusively locked warehouse. All its methods are
// safe for concurrent use; methods that write (AppendFacts, SetWatermarks,
// UpsertDimension, PublishDimensions, RecordRun, Compact) are serialised on
// one DuckDB connection, methods that only read (Watermark, Watermarks) run
// on the connection pool.
type Warehouse struct {
	duckPath   string
	parquetDir string
	runID      string
	log        *slog.Logger
	alloc      memory.Allocator

	lock   *fsx.Lock
	db     *sql.DB
	closed atomic.Bool

	// reads is held shared by the queries that run on db, outside mu, and
	// exclusively by trimCache while DuckDB's memory limit is lowered: a
	// query then could fail for want of memory.
	reads sync.RWMutex
	// mu serialises every write. The fields below are guarded by it.
	mu sync.Mutex
	// limitErr is set when trimCache could not restore DuckDB's memory
	// limit: the warehouse refuses every later write rather than commit
	// under a limit too low for it.
	limitErr error
	upserted *upserted // the dimension rows written, to skip rewriting them
	conn     *sql.Conn // the only connection that writes
	seq      int64     // last file sequence number used by this run
	duck     *duckSink
	parquet  *parquetSink
	// sinks are the sinks that write files (Parquet, then Iceberg), in
	// the order of the fact write protocol: prepared in this order while
	// DuckDB appends the rows, then committed in this order. DuckDB comes
	// after them: its COMMIT is the commit point of a batch.
	sinks []sink
	// ice is the Iceberg copy, nil when not configured; iceDirty says a
	// committed batch's Iceberg append is still pending.
	ice      *icebergLake
	iceDirty bool

	// hook, when set by tests, is called at named points of the write
	// protocols; an error it returns is treated like a failure at that point.
	hook func(point string) error
}

// Open opens the warehouse for writing. It takes an exclusive, non-blocking
// lock (flock on DuckDBPath+".lock"); if another labtrail holds it, the error
// wraps ErrLocked. It then creates missing tables and columns in DuckDB,
// creates or replaces the history views, and
// reconciles the Parquet datasets with the _labtrail_files manifest:
// interrupted compactions are finished or undone, .staging is emptied, and
// fact files the manifest does not list are deleted (each logged at Warn).
// With RedactInternalNotes, it then redacts stored internal notes.
//
// The caller must Close the Warehouse.
func Open(ctx context.Context, opts Options) (_ *Warehouse, err error) {
	if opts.DuckDBPath == "" {
		return nil, errors.New("load: open warehouse: Options.DuckDBPath is empty")
	}
	if opts.ParquetDir == "" {
		return nil, errors.New("load: open warehouse: Options.ParquetDir is empty")
	}
	w := &Warehouse{
		duckPath:   opts.DuckDBPath,
		parquetDir: opts.ParquetDir,
		runID:      opts.RunID,
		log:        opts.Logger,
		alloc:      opts.Alloc,
		upserted:   newUpserted(),
	}
	if w.runID == "" {
		w.runID = generateRunID()
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.alloc == nil {
		w.alloc = memory.DefaultAllocator
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.release())
		}
	}()

	if err := fsx.MkdirAll(filepath.Dir(w.duckPath), 0o755); err != nil {
		return nil, fmt.Errorf("load: creating the directory of %s: %w", w.duckPath, err)
	}
	if w.lock, err = lockWarehouse(w.duckPath); err != nil {
		return nil, err
	}
	if w.db, err = sql.Open("duckdb", duckDSN(w.duckPath, false)); err != nil {
		return nil, fmt.Errorf("load: opening %s: %w", w.duckPath, err)
	}
	if w.conn, err = w.db.Conn(ctx); err != nil {
		return nil, fmt.Errorf("load: opening %s: %w", w.duckPath, err)
	}
	w.duck = &duckSink{conn: w.conn, runID: w.runID, at: w.at}
	tr, err := openTree(ctx, opts, encoder{alloc: w.alloc}, w.at, w.log)
	if err != nil {
		return nil, err
	}
	w.parquet = &parquetSink{tree: tr, alloc: w.alloc, nextName: w.nextFileName}
	w.sinks = []sink{w.parquet}

	if err := w.duck.ensureTables(ctx, schemas.All()); err != nil {
		return nil, err
	}
	if err := CreateViews(ctx, w.db, opts.Views); err != nil {
		return nil, err
	}
	if err := w.attachPrevious(ctx, opts); err != nil {
		return nil, err
	}
	if err := tr.claim(ctx, w.conn, w.duckPath); err != nil {
		return nil, err
	}
	if err := w.reconcile(ctx); err != nil {
		return nil, err
	}
	if opts.Iceberg != nil {
		if w.ice, err = openIceberg(ctx, *opts.Iceberg, w); err != nil {
			return nil, err
		}
		w.sinks = []sink{w.parquet, icebergSink{w.ice}}
		if err := w.ice.recover(ctx); err != nil {
			return nil, err
		}
		if err := w.ice.removeOrphans(ctx); err != nil {
			return nil, err
		}
	}
	if opts.RedactInternalNotes {
		n, err := w.redactInternalNotes(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			w.log.Warn("redacted the bodies of internal notes stored while the warehouse kept them", "notes", n)
		}
	}
	return w, nil
}

// Close checkpoints DuckDB (folding the WAL into the database file), closes
// it and releases the lock. Close waits for a write in progress. Calling it
// again returns nil.
func (w *Warehouse) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Swap(true) {
		return nil
	}
	var errs []error
	if err := w.checkpoint(context.Background()); err != nil {
		errs = append(errs, fmt.Errorf("load: checkpointing %s: %w", w.duckPath, err))
	}
	if err := w.release(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// release closes whatever Open managed to open.
func (w *Warehouse) release() error {
	var errs []error
	if w.ice != nil {
		errs = append(errs, w.ice.close())
	}
	if w.conn != nil {
		if err := w.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("load: closing %s: %w", w.duckPath, err))
		}
		w.conn = nil
	}
	if w.db != nil {
		// w.db stays set: DB and the read methods may race with Close, and
		// a closed *sql.DB fails cleanly.
		if err := w.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("load: closing %s: %w", w.duckPath, err))
		}
	}
	if w.parquet != nil {
		if err := w.parquet.tree.close(); err != nil {
			errs = append(errs, fmt.Errorf("load: closing %s: %w", w.parquet.tree, err))
		}
		w.parquet = nil
	}
	if w.lock != nil {
		if err := w.lock.Unlock(); err != nil {
			errs = append(errs, fmt.Errorf("load: unlocking %s: %w", w.duckPath, err))
		}
		w.lock = nil
	}
	return errors.Join(errs...)
}

// DB returns the DuckDB connection pool, for views and status queries.
// Callers must not write fact tables or _labtrail_* tables through it, and
// must not use it after Close.
func (w *Warehouse) DB() *sql.DB { return w.db }

// RunID returns the run id the warehouse writes into file names and
// _labtrail_* rows.
func (w *Warehouse) RunID() string { return w.runID }

// OpenReadOnly opens the DuckDB file read-only, for the `sql` and `status`
// commands: no lock file, no table creation, no reconciliation. DuckDB itself
// refuses the open while another process has the file open for writing.
func OpenReadOnly(ctx context.Context, duckdbPath string) (*sql.DB, error) {
	if _, err := os.Stat(duckdbPath); err != nil {
		return nil, fmt.Errorf("load: opening %s read-only: %w", duckdbPath, err)
	}
	db, err := sql.Open("duckdb", duckDSN(duckdbPath, true))
	if err != nil {
		return nil, fmt.Errorf("load: opening %s read-only: %w", duckdbPath, err)
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("load: opening %s read-only: %w", duckdbPath, err), db.Close())
	}
	return db, nil
}

// begin takes the write lock, failing if the warehouse is closed.
func (w *Warehouse) begin() (unlock func(), err error) {
	w.mu.Lock()
	if w.closed.Load() {
		w.mu.Unlock()
		return nil, ErrClosed
	}
	if w.limitErr != nil {
		err := w.limitErr
		w.mu.Unlock()
		return nil, err
	}
	return w.mu.Unlock, nil
}

// reading holds reads shared, for a query on db; call the function it
// returns when the query's rows are read.
func (w *Warehouse) reading() func() {
	w.reads.RLock()
	return w.reads.RUnlock
}

// trimCache evicts the blocks DuckDB's buffer pool keeps cached after a
// write, by lowering its memory limit to duckTrimLimit for a moment and
// restoring duckMemoryLimit, and checkpoints when the write-ahead log is
// due (checkpointIfDue). DuckDB keeps every block a run wrote cached
// until memory_limit, so a run's memory grew with what it stored (anonymous
// memory at 256 MiB by the end of a 10x first run); lowering the limit
// itself is no fix, since a commit needs room to pin its blocks and one
// that cannot find it invalidates the database for the process. The lower
// limit holds only between two statements, under mu (no write runs) and
// reads held exclusively (no query runs). Lowering fails when more than
// duckTrimLimit is pinned (indexes, the catalogue): DuckDB has then evicted
// what it could, and the limit is unchanged. Guarded by mu.
//
// It runs after every batch, small ones included, though a trim takes
// about 15 ms (150 of them took 2.2 s of a 16 s backfill at concurrency
// 32). Measured on 2 December 2026 (BenchmarkPeakRSS, 1x and 10x): trimming
// only when DuckDB held more than 32 MB of table blocks raised the peaks
// from 254 / 281 to 266 / 295 MiB, and only after every 5,000 rows stored
// to 280 / 316 MiB.
func (w *Warehouse) trimCache(ctx context.Context) {
	w.reads.Lock()
	defer w.reads.Unlock()
	ctx = context.WithoutCancel(ctx)
	if !w.lowerLimit(ctx) {
		return
	}
	if w.checkpointIfDue(ctx) {
		w.lowerLimit(ctx) // what the checkpoint read back
	}
}

// lowerLimit lowers DuckDB's memory limit to duckTrimLimit and restores
// it (see trimCache). It reports false, and sets limitErr, when the limit
// could not be restored. Guarded by mu and reads held exclusively.
func (w *Warehouse) lowerLimit(ctx context.Context) bool {
	_, _ = w.conn.ExecContext(ctx, "SET memory_limit = '"+duckTrimLimit+"'")
	if _, err := w.conn.ExecContext(ctx, "SET memory_limit = '"+duckMemoryLimit+"'"); err != nil {
		w.limitErr = fmt.Errorf("load: duckdb: restoring memory_limit %s after trimming its cache: %w", duckMemoryLimit, err)
		w.log.Error("DuckDB's memory limit could not be restored; the warehouse takes no more writes", "err", err)
		return false
	}
	return true
}

// checkpoint folds DuckDB's write-ahead log into the database file, on one
// thread, and leaves DuckDB on that one thread. A checkpoint is a run's
// memory peak: it writes out every row group added since the last one,
// reading back those the trims evicted, and on one thread DuckDB works on
// one at a time. Measured on 2 December 2026 (Close's checkpoint, first
// run of the bench instance, three runs each, binary read from disk):
// anonymous peak 158 to 162 MiB against 166 to 171 with duckThreads, in
// the same time. Guarded by mu.
func (w *Warehouse) checkpoint(ctx context.Context) error {
	var errs []error
	if _, err := w.conn.ExecContext(ctx, "SET threads = 1"); err != nil {
		errs = append(errs, err)
	}
	if _, err := w.conn.ExecContext(ctx, "CHECKPOINT"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkpointIfDue checkpoints DuckDB, on one thread, once its write-ahead
// log has reached duckCheckpointWAL, and reports whether it did.
//
// DuckDB would checkpoint by itself at the same size (checkpoint_threshold),
// but inside the COMMIT that crosses it: with the committed batch's blocks
// still cached and on duckThreads threads, each working on a row group of
// its own. Those checkpoints were a run's memory peaks: anonymous memory
// rose 20 to 30 MiB in the 100 to 200 ms of a COMMIT that checkpointed
// (sampled every 5 ms; every sample above 178 MiB in a 10x first run was
// in a COMMIT). Here the checkpoint starts from a trimmed cache, one row
// group at a time, as Close's does. Measured on 2 December 2026 (10x first
// run, concurrency 8, binary read from disk, four runs each, back to
// back): peak RSS 272 to 277 MiB against 283 to 293, in the same time.
//
// A failed checkpoint is logged and the WAL kept: the next batch tries
// again, and Close's checkpoint folds it in. Guarded by mu and reads held
// exclusively (a checkpoint waits for no query).
func (w *Warehouse) checkpointIfDue(ctx context.Context) bool {
	st, err := os.Stat(w.duckPath + ".wal")
	if err != nil || st.Size() < duckCheckpointWAL {
		return false
	}
	if err := w.checkpoint(ctx); err != nil {
		w.log.Warn("DuckDB checkpoint failed; the write-ahead log is kept and folded in later", "wal_bytes", st.Size(), "err", err)
	}
	if _, err := w.conn.ExecContext(ctx, "SET threads = "+strconv.Itoa(duckThreads)); err != nil {
		// Writes would go on, on one thread; a query would too, slower.
		w.log.Warn("DuckDB's threads could not be restored after a checkpoint", "err", err)
	}
	return true
}

func (w *Warehouse) at(point string) error {
	if w.hook == nil {
		return nil
	}
	return w.hook(point)
}

// nextFileName returns a new Parquet file name for this run. Guarded by mu.
func (w *Warehouse) nextFileName() string {
	w.seq++
	return fmt.Sprintf("%s-%06d.parquet", fileSafe(w.runID), w.seq)
}

// checkRecord verifies that rec has t's columns, in t's order, with t's types,
// and no null id.
func checkRecord(t schemas.Table, rec arrow.RecordBatch) error {
	got, want := rec.Schema(), t.Schema
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("record has %d columns, table %s has %d", got.NumFields(), t.Name, want.NumFields())
	}
	for i, f := range want.Fields() {
		g := got.Field(i)
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) {
			return fmt.Errorf("record column %d is %s %s, table %s wants %s %s", i, g.Name, g.Type, t.Name, f.Name, f.Type)
		}
	}
	id := idColumn(t)
	if id < 0 {
		return fmt.Errorf("table %s has no %s column", t.Name, schemas.ColID)
	}
	if rec.Column(id).NullN() > 0 {
		return fmt.Errorf("record has rows with a null %s", schemas.ColID)
	}
	return nil
}

func idColumn(t schemas.Table) int {
	idx := t.Schema.FieldIndices(schemas.ColID)
	if len(idx) == 0 {
		return -1
	}
	return idx[0]
}

func generateRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// fileSafe maps s to a string usable in a file name on every platform.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

// sink is a store fact rows go to as files beside DuckDB (Parquet, Iceberg).
// AppendFacts writes every batch to all sinks and DuckDB with a two-phase
// commit, so that the batch ends up in all of them or, after Open's
// reconciliation, in none:
//
//   - prepare makes b durable in the sink without making it visible to the
//     sink's readers, and returns the pending write. It may add to b what
//     DuckDB needs (the Parquet sink fills b.files, which DuckDB records in
//     its manifest). It runs while DuckDB appends b's rows (writeBatch), so
//     it must not touch DuckDB, and may set b.files and b.iceberg but
//     change nothing else of b. If it fails, it leaves nothing behind.
//   - pending.commit makes the write visible. Sinks are committed in order;
//     DuckDB's, after them all, is the commit point of the batch. A commit
//     error wrapping errCommitUnknown means the outcome is unknown: the
//     caller then leaves everything as it is for Open to reconcile.
//   - pending.abort undoes prepare and, if it ran, commit. It is called at
//     most once, only if the batch fails before the commit point, and must
//     work even when the context is cancelled.
//
// The Warehouse calls sinks only under its mutex, one at a time.
type sink interface {
	name() string
	prepare(ctx context.Context, b *factBatch) (pending, error)
}

// pending is a batch a sink has prepared; see sink.
type pending interface {
	commit(ctx context.Context) error
	abort() error
}

// errCommitUnknown marks a commit whose outcome could not be determined.
var errCommitUnknown = errors.New("outcome of the commit is unknown; the next Open reconciles the Parquet files with the DuckDB manifest")

// factBatch is the new rows of one AppendFacts call, ready for the sinks.
type factBatch struct {
	table schemas.Table
	rec   arrow.RecordBatch // the caller's record; rows are indices into it
	parts []partition       // the rows to store, by created_at month
	marks []Mark
	files []fileEntry // set by the Parquet sink's prepare
	// iceberg is set by the Iceberg sink's prepare; DuckDB records it as
	// pending in the commit transaction.
	iceberg *icebergBatch
}

type partition struct {
	month string // "YYYY-MM" or unknownMonth
	rows  []int
}

func (b *factBatch) numRows() int {
	n := 0
	for _, p := range b.parts {
		n += len(p.rows)
	}
	return n
}

// rowIndices returns the rows to store, partition by partition.
func (b *factBatch) rowIndices() []int {
	if len(b.parts) == 1 {
		return b.parts[0].rows
	}
	out := make([]int, 0, b.numRows())
	for _, p := range b.parts {
		out = append(out, p.rows...)
	}
	return out
}

// AppendFacts adds rec's rows to fact table t in both sinks, exactly once:
// rows whose id is already stored are dropped, and so are rows repeating an
// id seen earlier in rec (the first one is kept). marks are written in the
// same DuckDB transaction that makes the rows visible, so a watermark never
// covers rows that are not stored; with an empty or nil rec, or when every
// row is dropped, AppendFacts just stores marks. It returns how many rows it
// added.
//
// rec must have t's columns in t's order with t's types and no null id. It
// is not released (the caller owns it) and not retained after the call.
//
// Calls are serialised by the Warehouse. The protocol, under its mutex:
//
//  1. look up which of rec's ids DuckDB already has; keep the other rows,
//     first occurrence of each id, grouped by created_at month (UTC);
//  2. write each month's rows to a file in <ParquetDir>/.staging, fsync;
//     meanwhile, BEGIN a DuckDB transaction and append the rows (DuckDB
//     Appender, inside the transaction);
//  3. add the files to _labtrail_files, upsert the marks;
//  4. rename the files into their partitions (never replacing a file),
//     fsync the partition directories;
//  5. COMMIT.
//
// A failure before COMMIT rolls back and deletes the batch's files. A crash
// between 4 and 5 leaves files the manifest does not list; Open deletes them,
// and since their rows and watermarks were never committed the rows are
// fetched and written again. Either way no reader sees a row twice.
//
// An error means the rows and marks were not stored. (In the one exception,
// DuckDB failing its COMMIT and then failing to say whether it committed,
// the error says so and leaves the batch's files for the next Open to keep
// or delete according to the manifest.)
func (w *Warehouse) AppendFacts(ctx context.Context, t schemas.Table, rec arrow.RecordBatch, marks ...Mark) (int64, error) {
	if t.Kind != schemas.Fact {
		return 0, fmt.Errorf("load: AppendFacts: %s is not a fact table", t.Name)
	}
	if rec != nil {
		if err := checkRecord(t, rec); err != nil {
			return 0, fmt.Errorf("load: AppendFacts %s: %w", t.Name, err)
		}
	}
	if err := checkMarks(marks); err != nil {
		return 0, err
	}
	unlock, err := w.begin()
	if err != nil {
		return 0, err
	}
	defer unlock()

	if err := w.publishPendingLocked(ctx); err != nil {
		return 0, fmt.Errorf("load: AppendFacts %s: %w", t.Name, err)
	}
	if rec == nil || rec.NumRows() == 0 {
		return 0, setMarksLocked(ctx, w, marks)
	}
	b, err := w.newFactBatch(ctx, t, rec, marks)
	if err != nil {
		return 0, fmt.Errorf("load: AppendFacts %s: %w", t.Name, err)
	}
	if len(b.parts) == 0 {
		return 0, setMarksLocked(ctx, w, marks)
	}
	if err := w.writeBatch(ctx, b); err != nil {
		return 0, fmt.Errorf("load: AppendFacts %s: %w", t.Name, err)
	}
	defer w.trimCache(ctx)
	if b.iceberg != nil {
		// Past the commit point the rows are stored: a failed append is
		// left pending for the next batch, PublishDimensions or Open.
		if err := w.ice.publish(ctx, b.iceberg); err != nil {
			w.iceDirty = true
			w.log.Warn("the Iceberg append of a committed batch failed; it stays pending and is retried", "table", t.Name, "err", err)
		}
	}
	return int64(b.numRows()), nil
}

// publishPendingLocked finishes the Iceberg appends left pending by a
// failed publish of this Warehouse. Guarded by mu.
func (w *Warehouse) publishPendingLocked(ctx context.Context) error {
	if w.ice == nil || !w.iceDirty {
		return nil
	}
	if err := w.ice.recover(ctx); err != nil {
		return err
	}
	w.iceDirty = false
	return nil
}

// newFactBatch drops the rows of rec whose id is stored or repeated, and
// groups the others by partition.
func (w *Warehouse) newFactBatch(ctx context.Context, t schemas.Table, rec arrow.RecordBatch, marks []Mark) (*factBatch, error) {
	ids, ok := rec.Column(idColumn(t)).(*array.Int64)
	if !ok {
		return nil, fmt.Errorf("%s column is %T, not int64", schemas.ColID, rec.Column(idColumn(t)))
	}
	n := ids.Len()
	unique := make([]int64, 0, n)
	seen := make(map[int64]struct{}, n)
	for i := range n {
		if _, ok := seen[ids.Value(i)]; !ok {
			seen[ids.Value(i)] = struct{}{}
			unique = append(unique, ids.Value(i))
		}
	}
	stored, err := w.duck.existingIDs(ctx, t.Name, unique)
	if err != nil {
		return nil, err
	}
	month, err := monthOf(t, rec)
	if err != nil {
		return nil, err
	}

	clear(seen)
	byMonth := map[string]int{}
	b := &factBatch{table: t, rec: rec, marks: marks}
	for i := range n {
		id := ids.Value(i)
		if _, ok := stored[id]; ok {
			continue
		}
		if _, ok := seen[id]; ok {
			continue
		}
		seen[id] = struct{}{}
		m := month(i)
		p, ok := byMonth[m]
		if !ok {
			p = len(b.parts)
			byMonth[m] = p
			b.parts = append(b.parts, partition{month: m})
		}
		b.parts[p].rows = append(b.parts[p].rows, i)
	}
	return b, nil
}

// monthOf returns a function giving the partition of row i of rec: the UTC
// month of created_at, or unknownMonth when it is null.
func monthOf(t schemas.Table, rec arrow.RecordBatch) (func(int) string, error) {
	idx := t.Schema.FieldIndices(schemas.ColCreatedAt)
	if len(idx) == 0 {
		return nil, fmt.Errorf("fact table %s has no %s column to partition by", t.Name, schemas.ColCreatedAt)
	}
	col, ok := rec.Column(idx[0]).(*array.Timestamp)
	if !ok {
		return nil, fmt.Errorf("%s.%s is %s, not a timestamp", t.Name, schemas.ColCreatedAt, rec.Column(idx[0]).DataType())
	}
	unit := col.DataType().(*arrow.TimestampType).Unit
	return func(i int) string {
		if col.IsNull(i) {
			return unknownMonth
		}
		return col.Value(i).ToTime(unit).UTC().Format("2006-01")
	}, nil
}

// writeBatch runs the two-phase commit of b over w.sinks and DuckDB.
// DuckDB appends b's rows (duckSink.stage) while the sinks before it write
// their files: the two took about the same time, one after the other, and
// the warehouse's one writer is what a backfill waits for. DuckDB's part
// of prepare then ends with what those sinks recorded in b (finish).
func (w *Warehouse) writeBatch(ctx context.Context, b *factBatch) error {
	// prepared is what was prepared, named for the commit hooks.
	type named struct {
		name string
		pending
	}
	var prepared []named
	abortAll := func(cause error) error {
		errs := []error{cause}
		for i := len(prepared) - 1; i >= 0; i-- {
			errs = append(errs, prepared[i].abort())
		}
		return errors.Join(errs...)
	}
	stageCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	staged := make(chan error, 1)
	go func() { staged <- w.duck.stage(stageCtx, b) }()
	var err error
	for _, s := range w.sinks {
		var p pending
		if p, err = s.prepare(ctx, b); err != nil {
			cancel() // stop appending rows that will be rolled back
			break
		}
		prepared = append(prepared, named{s.name(), p})
	}
	serr := <-staged // stage rolls back what it began when it fails
	switch {
	case err != nil && serr == nil:
		return abortAll(errors.Join(err, w.duck.rollback()))
	case err != nil:
		return abortAll(err)
	case serr != nil:
		return abortAll(serr)
	}
	p, err := w.duck.finish(ctx, b)
	if err != nil {
		return abortAll(err)
	}
	prepared = append(prepared, named{w.duck.name(), p})
	for _, p := range prepared {
		if err := w.at("commit " + p.name); err != nil {
			return abortAll(err)
		}
		if err := p.commit(ctx); err != nil {
			if errors.Is(err, errCommitUnknown) {
				w.log.Error("a batch may or may not have committed; leaving its files for the next Open to reconcile",
					"table", b.table.Name, "err", err)
				return err
			}
			return abortAll(err)
		}
	}
	return nil
}

// UpsertDimension writes rec's rows into dimension table t in DuckDB,
// replacing stored rows with the same id (latest wins; when rec repeats an
// id, its last row wins), in one transaction. The same transaction
// replaces the rows' bridge rows (schemas.BridgesOf(t)): after it, each
// bridge holds exactly the elements of its parent's list column, so an
// element removed from a list loses its bridge row. The Parquet copy of t
// and its bridges changes only at the next PublishDimensions.
//
// Rows equal to the row this Warehouse last upserted with the same id are
// skipped (see upserted): the stored row already is the new one.
//
// rec must have t's columns in t's order with t's types and no null id; it
// is not released. Safe for concurrent use (calls are serialised).
func (w *Warehouse) UpsertDimension(ctx context.Context, t schemas.Table, rec arrow.RecordBatch) error {
	if t.Kind != schemas.Dimension {
		return fmt.Errorf("load: UpsertDimension: %s is not a dimension table", t.Name)
	}
	if rec == nil || rec.NumRows() == 0 {
		return nil
	}
	if err := checkRecord(t, rec); err != nil {
		return fmt.Errorf("load: UpsertDimension %s: %w", t.Name, err)
	}
	unlock, err := w.begin()
	if err != nil {
		return err
	}
	defer unlock()

	// Keep the last row of each id, in row order.
	ids, ok := rec.Column(idColumn(t)).(*array.Int64)
	if !ok {
		return fmt.Errorf("load: UpsertDimension %s: %s column is %T, not int64", t.Name, schemas.ColID, rec.Column(idColumn(t)))
	}
	last := make(map[int64]int, ids.Len())
	for i := range ids.Len() {
		last[ids.Value(i)] = i
	}
	rows := make([]int, 0, len(last))
	for i := range ids.Len() {
		if last[ids.Value(i)] == i {
			rows = append(rows, i)
		}
	}
	rows, sums := w.upserted.changed(t, rec, ids, rows)
	if len(rows) == 0 {
		return nil
	}
	if err := w.duck.upsertDimension(ctx, t, rec, rows); err != nil {
		return err
	}
	w.upserted.remember(t, ids, rows, sums)
	return nil
}

// PublishDimensions rewrites <ParquetDir>/<table>/data.parquet for every
// dimension and bridge table from its DuckDB rows (ordered by key), each
// file atomically: written in .staging, fsynced, renamed over the previous
// one. On error some tables may already be published; each file is whole
// either way. With Iceberg, it first finishes pending fact appends, replaces
// each dimension and bridge table's rows in one overwrite snapshot, and
// expires snapshots older than the retention.
func (w *Warehouse) PublishDimensions(ctx context.Context) error {
	unlock, err := w.begin()
	if err != nil {
		return err
	}
	defer unlock()
	if err := w.publishPendingLocked(ctx); err != nil {
		return err
	}
	for _, t := range schemas.All() {
		if t.Kind == schemas.Fact {
			continue
		}
		err := w.parquet.publishDimension(ctx, t, func(emit func(arrow.RecordBatch) error) error {
			return w.duck.scanTable(ctx, t, w.alloc, rowGroupRows, emit)
		})
		if err != nil {
			return fmt.Errorf("load: publishing %s: %w", t.Name, err)
		}
		if w.ice != nil {
			err := w.ice.publishDimension(ctx, t, func(emit func(arrow.RecordBatch) error) error {
				return w.duck.scanTable(ctx, t, w.alloc, rowGroupRows, emit)
			})
			if err != nil {
				return err
			}
		}
	}
	if w.ice != nil {
		return w.ice.maintain(ctx)
	}
	return nil
}
