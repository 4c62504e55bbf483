package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/labtrail/labtrail/internal/fsx"
)

// lockWarehouse takes the exclusive, non-blocking lock that makes one process
// the only writer of a warehouse: flock(2) on duckdbPath+".lock". The lock
// dies with the process, so a crashed run never leaves a stale lock behind.
// A held lock yields an error wrapping ErrLocked that names the warehouse and,
// when the lock file says so, the pid of the holder.
func lockWarehouse(duckdbPath string) (*fsx.Lock, error) {
	path := duckdbPath + ".lock"
	l, err := fsx.TryLock(path)
	if err == nil {
		return l, nil
	}
	if errors.Is(err, fsx.ErrWouldBlock) {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder = ", pid " + pid
			}
		}
		return nil, fmt.Errorf("load: another labtrail is writing to this warehouse (%s, lock %s%s): %w",
			duckdbPath, path, holder, ErrLocked)
	}
	return nil, fmt.Errorf("load: locking the warehouse %s: %w", duckdbPath, err)
}

// ownerFile names, inside the Parquet directory, the DuckDB file whose
// manifest governs it, as a path relative to the Parquet directory (so the
// two can move together, as a restored CI cache or a remounted volume does).
const ownerFile = ".labtrail-warehouse"

// claimParquetDir makes sure parquetDir belongs to the warehouse at
// duckdbPath, marking it on first use. Open deletes Parquet files that its
// manifest does not list, so a Parquet directory shared by two warehouses
// would have each run delete the other's files; a second warehouse is
// refused instead.
func claimParquetDir(parquetDir, duckdbPath string) error {
	absPQ, err := filepath.Abs(parquetDir)
	if err == nil {
		var absDB string
		if absDB, err = filepath.Abs(duckdbPath); err == nil {
			duckdbPath, err = filepath.Rel(absPQ, absDB)
		}
	}
	if err != nil {
		return fmt.Errorf("load: relating %s to %s: %w", duckdbPath, parquetDir, err)
	}
	path := filepath.Join(parquetDir, ownerFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if owner := strings.TrimSpace(string(b)); owner != duckdbPath {
			return fmt.Errorf("load: %s holds the Parquet files of the warehouse %s, not of %s (paths relative to it); give each warehouse its own Parquet directory", parquetDir, owner, duckdbPath)
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		if err := os.WriteFile(path, []byte(duckdbPath+"\n"), 0o644); err != nil {
			return fmt.Errorf("load: marking %s as the Parquet directory of %s: %w", parquetDir, duckdbPath, err)
		}
		return fsx.SyncDir(parquetDir)
	default:
		return fmt.Errorf("load: reading %s: %w", path, err)
	}
}

// ownerTable holds the id a bucket's owner marker names. A bucket is
// reached from anywhere, so the DuckDB file's path (what a directory's
// marker holds) cannot tell two warehouses apart: two machines may use the
// same path. The id is made once, at the first Open of a bucket tree, and
// kept in the DuckDB file it names.
const ownerTable = `CREATE TABLE IF NOT EXISTS _labtrail_owner (id VARCHAR NOT NULL)`

// claim makes sure the bucket prefix belongs to this warehouse: its
// .labtrail-warehouse object holds the warehouse's id. A missing marker is
// written with a conditional write, so of two warehouses claiming a prefix
// at once one is refused.
func (b *bucketTree) claim(ctx context.Context, q execer, duckPath string) error {
	id, err := warehouseID(ctx, q)
	if err != nil {
		return err
	}
	for range 2 { // the second round reads a marker another writer won
		data, err := b.bucket.ReadAll(ctx, ownerFile)
		switch {
		case err == nil:
			if owner := strings.TrimSpace(string(data)); owner != id {
				return fmt.Errorf("load: %s holds the Parquet files of another warehouse (id %s in %s/%s; %s has id %s); give each warehouse its own prefix, or delete the marker if that warehouse is gone",
					b.url, owner, b.url, ownerFile, duckPath, id)
			}
			return nil
		case gcerrors.Code(err) == gcerrors.NotFound:
			err = b.bucket.WriteAll(ctx, ownerFile, []byte(id+"\n"), &blob.WriterOptions{ContentType: "text/plain", IfNotExist: true})
			if err == nil {
				return nil
			}
			if gcerrors.Code(err) != gcerrors.FailedPrecondition {
				return fmt.Errorf("load: marking %s as the Parquet tree of %s: %w", b.url, duckPath, err)
			}
		default:
			return fmt.Errorf("load: reading %s/%s: %w", b.url, ownerFile, err)
		}
	}
	return fmt.Errorf("load: %s/%s: written and missing at once", b.url, ownerFile)
}

// warehouseID returns the warehouse's id, making it on first use.
func warehouseID(ctx context.Context, q execer) (string, error) {
	if _, err := q.ExecContext(ctx, ownerTable); err != nil {
		return "", fmt.Errorf("load: creating _labtrail_owner: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT id FROM _labtrail_owner`)
	if err != nil {
		return "", fmt.Errorf("load: reading _labtrail_owner: %w", err)
	}
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return "", fmt.Errorf("load: reading _labtrail_owner: %w", err)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return "", fmt.Errorf("load: reading _labtrail_owner: %w", err)
	}
	if id != "" {
		return id, nil
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	id = hex.EncodeToString(b[:])
	if _, err := q.ExecContext(ctx, `INSERT INTO _labtrail_owner VALUES (?)`, id); err != nil {
		return "", fmt.Errorf("load: recording the warehouse id: %w", err)
	}
	return id, nil
}
