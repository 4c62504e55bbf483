package load

import (
	"errors"
	"fmt"
	"os"
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
