package load

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
