package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // registers the s3:// file IO
	"github.com/apache/iceberg-go/table"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "github.com/mattn/go-sqlite3"    // registers the "sqlite3" database/sql driver

	"github.com/labtrail/labtrail/internal/fsx"
	"github.com/labtrail/labtrail/schemas"
)

// IcebergOptions configure the Iceberg copy of the warehouse: every table
// also becomes an Iceberg table in Namespace, registered in a catalog.
// Several warehouses (shards, each with its own DuckDB file) may append to
// the same Iceberg tables.
type IcebergOptions struct {
	// Catalog is "sql" (URI is a SQLite file or a postgres:// URL) or
	// "rest" (URI is the REST catalog's http(s) URL).
	Catalog string
	URI     string
	// Warehouse is where tables live: a local directory, file:// or
	// s3:// URL; for a REST catalog, its warehouse name (may be empty).
	Warehouse string
	Namespace string
	// SnapshotRetention is how long a replaced snapshot stays readable;
	// older ones are expired by PublishDimensions and Compact.
	SnapshotRetention time.Duration
	// ObjectStore addresses an s3:// warehouse (the Parquet tree's
	// warehouse.object_store); credentials come from the usual AWS
	// environment, never from here.
	ObjectStore ObjectStore
	// Credential ("client_id:secret") or Token authenticates to a REST
	// catalog; both are read from the environment by the caller.
	Credential, Token string
	// SharedDimensions says other warehouses (the other shards of a
	// sharded run) write the same Iceberg tables and this one holds only
	// part of each dimension: publishing a dimension then replaces only
	// the rows whose id (a bridge's parent id) this warehouse holds, and
	// keeps the others', instead of replacing the whole table.
	SharedDimensions bool
}

// Snapshot summary properties labtrail writes, so that a batch can be
// recognised in the table itself (see icebergLake.recover).
const (
	summaryBatchID    = "labtrail.batch-id"
	summaryRunID      = "labtrail.run-id"
	summaryWatermarks = "labtrail.watermarks"
)

// icebergRetries bounds how often one operation is reloaded and re-applied
// after losing an optimistic commit race to another writer.
const icebergRetries = 20

// icebergLake is the Iceberg side of a warehouse. Every call happens under
// the Warehouse's mutex.
type icebergLake struct {
	cat       catalog.Catalog
	closeCat  func() error
	ns        table.Identifier
	location  string // table locations are <location>/<table>; "" lets a REST catalog choose
	retention time.Duration
	alloc     memory.Allocator
	log       *slog.Logger
	at        func(point string) error
	conn      *sql.Conn // the warehouse's DuckDB write connection
	runID     string
	// owner is this warehouse's prefix of data file names (see
	// newWriteUUID): files with it are written only under this
	// warehouse's lock, which is what lets removeOrphans delete them.
	owner string
	// shared: see IcebergOptions.SharedDimensions.
	shared bool
	// store reaches an s3:// warehouse's bucket (removeOrphans lists it).
	store ObjectStore
}

// openIceberg connects to the catalog, creates the namespace and tables
// that are missing (tolerating a concurrent creator) and records this
// warehouse's owner prefix.
func openIceberg(ctx context.Context, opts IcebergOptions, w *Warehouse) (_ *icebergLake, err error) {
	l := &icebergLake{
		ns: table.Identifier{opts.Namespace}, retention: opts.SnapshotRetention, alloc: w.alloc, log: w.log,
		at: w.at, conn: w.conn, runID: w.runID, shared: opts.SharedDimensions, store: opts.ObjectStore,
	}
	if l.retention <= 0 {
		return nil, errors.New("load: iceberg: SnapshotRetention must be positive")
	}
	props, err := catalogProps(opts)
	if err != nil {
		return nil, err
	}
	l.location = props["warehouse"]
	if l.cat, l.closeCat, err = openCatalog(ctx, opts, props); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.close())
		}
	}()
	if _, err := l.conn.ExecContext(ctx, icebergStateTables); err != nil {
		return nil, fmt.Errorf("load: iceberg: creating its DuckDB tables: %w", err)
	}
	if l.owner, err = icebergOwner(ctx, l.conn); err != nil {
		return nil, err
	}
	if err := l.ensureTables(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// tableRoot is the location under which tables are created: an absolute
// file:// URL for a local directory, so that every engine resolves it.
func tableRoot(opts IcebergOptions) (string, error) {
	wh := strings.TrimSuffix(opts.Warehouse, "/")
	switch {
	case opts.Catalog == "rest":
		return "", nil // the catalog places tables in its warehouse
	case wh == "":
		return "", errors.New("load: iceberg: Warehouse is empty")
	case strings.Contains(wh, "://"):
		return wh, nil
	}
	abs, err := filepath.Abs(wh)
	if err != nil {
		return "", fmt.Errorf("load: iceberg: %w", err)
	}
	if err := fsx.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("load: iceberg: creating %s: %w", abs, err)
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// OpenIcebergCatalog connects to the catalog opts name, for readers (tests,
// tools) of the tables a Warehouse writes. The caller calls close.
func OpenIcebergCatalog(ctx context.Context, opts IcebergOptions) (_ catalog.Catalog, close func() error, err error) {
	props, err := catalogProps(opts)
	if err != nil {
		return nil, nil, err
	}
	return openCatalog(ctx, opts, props)
}

// catalogProps are the catalog's properties: how to reach an s3://
// warehouse, and for a sql catalog the root tables are created under
// ("warehouse").
func catalogProps(opts IcebergOptions) (iceberg.Properties, error) {
	props := iceberg.Properties{}
	if strings.HasPrefix(opts.Warehouse, "s3://") {
		props[icebergio.S3EndpointURL] = opts.ObjectStore.Endpoint
		props[icebergio.S3Region] = opts.ObjectStore.Region
		props[icebergio.S3ForceVirtualAddressing] = strconv.FormatBool(!opts.ObjectStore.PathStyle)
	}
	root, err := tableRoot(opts)
	if err != nil {
		return nil, err
	}
	if root != "" {
		props["warehouse"] = root
	}
	return props, nil
}

func openCatalog(ctx context.Context, opts IcebergOptions, props iceberg.Properties) (cat catalog.Catalog, close func() error, err error) {
	switch opts.Catalog {
	case "sql":
		cat, close, err = openSQLCatalog(opts, props)
	case "rest":
		cat, close, err = openRESTCatalog(ctx, opts, props)
	default:
		err = fmt.Errorf("unknown catalog %q (want sql or rest)", opts.Catalog)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load: iceberg: opening the catalog: %w", err)
	}
	return cat, close, nil
}

func openSQLCatalog(opts IcebergOptions, props iceberg.Properties) (catalog.Catalog, func() error, error) {
	driver, dsn, dialect := "sqlite3", "", sqlcat.SQLite
	if strings.HasPrefix(opts.URI, "postgres://") || strings.HasPrefix(opts.URI, "postgresql://") {
		driver, dsn, dialect = "pgx", opts.URI, sqlcat.Postgres
	} else {
		if err := fsx.MkdirAll(filepath.Dir(opts.URI), 0o755); err != nil {
			return nil, nil, err
		}
		// WAL and a busy timeout let several labtrail processes share the
		// file; an immediate write lock makes a commit wait for another
		// rather than fail on a lock upgrade.
		dsn = "file:" + opts.URI + "?_busy_timeout=60000&_journal_mode=WAL&_txlock=immediate"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, nil, err // database/sql does not quote the DSN
	}
	// NewCatalog creates the catalog's tables when they are missing; two
	// labtrail processes (shards) starting at once on a fresh PostgreSQL
	// database race to create them, and the loser's CREATE fails on a
	// unique index of PostgreSQL's own catalog. Trying again finds them.
	var cat catalog.Catalog
	for attempt := 0; ; attempt++ {
		cat, err = sqlcat.NewCatalog("labtrail", db, dialect, props)
		if err == nil || attempt == 4 || !concurrentCreate(err) {
			break
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	if err != nil {
		return nil, nil, errors.Join(redactURIError(err, opts.URI), db.Close())
	}
	return cat, db.Close, nil
}

// concurrentCreate reports whether err is PostgreSQL refusing a CREATE
// because another session created the same object at the same moment: a
// unique index of its own catalog (23505), the table (42P07), or the
// table's row type (42710, 'type "iceberg_tables" already exists', seen
// when two shards of TestAcceptanceShardsIntoS3AndIceberg started at once).
func concurrentCreate(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "23505", "42P07", "42710":
		return true
	}
	return false
}

func openRESTCatalog(ctx context.Context, opts IcebergOptions, props iceberg.Properties) (catalog.Catalog, func() error, error) {
	ro := []rest.Option{rest.WithAdditionalProps(props)}
	if opts.Warehouse != "" {
		ro = append(ro, rest.WithWarehouseLocation(opts.Warehouse))
	}
	if opts.Credential != "" {
		ro = append(ro, rest.WithCredential(opts.Credential))
	}
	if opts.Token != "" {
		ro = append(ro, rest.WithOAuthToken(opts.Token))
	}
	cat, err := rest.NewCatalog(ctx, "labtrail", opts.URI, ro...)
	if err != nil {
		return nil, nil, err
	}
	return cat, func() error { return nil }, nil
}

// redactURIError replaces a postgres URI's password wherever a driver
// error repeats it.
func redactURIError(err error, uri string) error {
	if i := strings.Index(uri, "://"); i >= 0 {
		if at := strings.LastIndex(uri, "@"); at > i {
			if colon := strings.Index(uri[i+3:at], ":"); colon >= 0 {
				if pw := uri[i+3+colon+1 : at]; pw != "" && strings.Contains(err.Error(), pw) {
					return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
				}
			}
		}
	}
	return err
}

func (l *icebergLake) close() error {
	if l.closeCat == nil {
		return nil
	}
	err := l.closeCat()
	l.closeCat = nil
	if err != nil {
		return fmt.Errorf("load: iceberg: closing the catalog: %w", err)
	}
	return nil
}

// icebergStateTables is DuckDB's record of Iceberg work: the owner prefix
// of this warehouse's data files, and the fact batches DuckDB committed
// whose Iceberg append may not have happened yet.
const icebergStateTables = `
CREATE TABLE IF NOT EXISTS _labtrail_iceberg_owner (owner VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS _labtrail_iceberg_pending (
	batch_id   VARCHAR PRIMARY KEY,
	table_name VARCHAR NOT NULL,
	files      VARCHAR[] NOT NULL,
	summary    VARCHAR NOT NULL,
	run_id     VARCHAR NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);`

func icebergOwner(ctx context.Context, conn *sql.Conn) (string, error) {
	var owner string
	err := conn.QueryRowContext(ctx, `SELECT owner FROM _labtrail_iceberg_owner`).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		owner = newOwnerPrefix()
		_, err = conn.ExecContext(ctx, `INSERT INTO _labtrail_iceberg_owner VALUES (?)`, owner)
	}
	if err != nil {
		return "", fmt.Errorf("load: iceberg: reading the owner prefix: %w", err)
	}
	return owner, nil
}

// ensureTables creates the namespace and every missing table: facts
// partitioned by month(created_at), dimensions and bridges unpartitioned,
// columns derived from schemas (never redeclared). Another process creating
// the same thing at the same time is not an error.
func (l *icebergLake) ensureTables(ctx context.Context) error {
	if err := l.cat.CreateNamespace(ctx, l.ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		if ok, cerr := l.cat.CheckNamespaceExists(ctx, l.ns); cerr != nil || !ok {
			return fmt.Errorf("load: iceberg: creating namespace %s: %w", l.ns[0], err)
		}
	}
	for _, t := range schemas.All() {
		if err := l.ensureTable(ctx, t); err != nil {
			return fmt.Errorf("load: iceberg: table %s: %w", t.Name, err)
		}
	}
	return nil
}

func (l *icebergLake) ident(t schemas.Table) table.Identifier {
	return append(table.Identifier{}, l.ns[0], t.Name)
}

// ensureTable creates t's table, or adds to an existing one (created by
// an earlier release, or by a concurrent labtrail of any release) the
// columns it lacks.
func (l *icebergLake) ensureTable(ctx context.Context, t schemas.Table) error {
	ok, err := l.cat.CheckTableExists(ctx, l.ident(t))
	if err != nil {
		return err
	}
	if ok {
		return l.addMissingColumns(ctx, t)
	}
	return l.createTable(ctx, t)
}

func (l *icebergLake) createTable(ctx context.Context, t schemas.Table) error {
	sc, err := table.ArrowSchemaToIcebergWithFreshIDs(t.Schema, false)
	if err != nil {
		return fmt.Errorf("deriving the schema: %w", err)
	}
	opts := []catalog.CreateTableOpt{catalog.WithProperties(iceberg.Properties{
		table.PropertyFormatVersion: "2",
		// The library's own refresh-and-replay of a lost race; a race it
		// cannot settle comes back to retryConflicts.
		table.CommitNumRetriesKey:     "10",
		table.CommitMinRetryWaitMsKey: "20",
		table.CommitMaxRetryWaitMsKey: "2000",
	})}
	if l.location != "" {
		opts = append(opts, catalog.WithLocation(l.location+"/"+l.ns[0]+"/"+t.Name))
	}
	if t.Kind == schemas.Fact {
		f, ok := sc.FindFieldByName(schemas.ColCreatedAt)
		if !ok {
			return fmt.Errorf("no %s column to partition by", schemas.ColCreatedAt)
		}
		spec := iceberg.NewPartitionSpec(iceberg.PartitionField{
			SourceIDs: []int{f.ID}, FieldID: 1000, Name: "created_month", Transform: iceberg.MonthTransform{},
		})
		opts = append(opts, catalog.WithPartitionSpec(&spec))
	}
	if _, err := l.cat.CreateTable(ctx, l.ident(t), sc, opts...); err != nil {
		if ok, cerr := l.cat.CheckTableExists(ctx, l.ident(t)); cerr == nil && ok {
			return l.addMissingColumns(ctx, t) // a concurrent labtrail created it first
		}
		return err
	}
	return nil
}

// load returns the table's current state from the catalog.
func (l *icebergLake) load(ctx context.Context, t schemas.Table) (*table.Table, error) {
	tbl, err := l.cat.LoadTable(ctx, l.ident(t))
	if err != nil {
		return nil, fmt.Errorf("load: iceberg: loading %s: %w", t.Name, err)
	}
	return tbl, nil
}

// retryConflicts runs op against the table's current state and commits
// the transaction it builds (nothing, if op returns errAlreadyCommitted); when another writer committed first (the
// catalog refused our base), it reloads and runs op again.
func (l *icebergLake) retryConflicts(ctx context.Context, t schemas.Table, op func(tbl *table.Table, tx *table.Transaction) error) (*table.Table, error) {
	var last error
	for attempt := range icebergRetries {
		if attempt > 0 {
			l.log.Info("iceberg commit lost a race with another writer; reloading and re-applying", "table", t.Name, "attempt", attempt+1)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 10 * time.Millisecond):
			}
		}
		tbl, err := l.load(ctx, t)
		if err != nil {
			return nil, err
		}
		tx := tbl.NewTransaction()
		if err := op(tbl, tx); errors.Is(err, errAlreadyCommitted) {
			return tbl, nil
		} else if err != nil {
			return nil, err
		}
		committed, err := tx.Commit(ctx)
		if err == nil {
			return committed, nil
		}
		if !lostRace(err) {
			return nil, err
		}
		last = err
	}
	return nil, fmt.Errorf("load: iceberg: %s: gave up after %d lost commit races: %w", t.Name, icebergRetries, last)
}

// lostRace reports whether a commit failed because another writer changed
// the table first: the catalog said so (a REST 409), or refused a
// requirement on the table's state (the sql catalog returns the
// requirement's own error, unwrapped; some requirements spell it
// "Requirement failed"), or iceberg-go's own refresh-and-replay found
// the files a rewrite replaces already replaced by another writer (a
// shard compacting the same partition), which it leaves to the caller to
// plan again from the new state. Either way nothing was committed.
func lostRace(err error) bool {
	return errors.Is(err, table.ErrCommitFailed) || errors.Is(err, table.ErrCommitDiverged) ||
		strings.Contains(strings.ToLower(err.Error()), "requirement failed: ")
}
