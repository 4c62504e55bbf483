package load

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/labtrail/labtrail/internal/s3test"
	"github.com/labtrail/labtrail/schemas"
)

// The child of TestIcebergKill9AtEveryPoint: it stores one batch, then
// kills itself with SIGKILL at point LABTRAIL_ICE_KILL_AT of the next
// batch's write protocol: no abort, no Close, no deferred cleanup runs.
func TestIcebergKill9Child(t *testing.T) {
	point := os.Getenv("LABTRAIL_ICE_KILL_AT")
	if point == "" {
		t.Skip("run as a child by TestIcebergKill9AtEveryPoint")
	}
	e := newEnv(t)
	e.dir = os.Getenv("LABTRAIL_ICE_DIR")
	if ep := os.Getenv("LABTRAIL_ICE_S3"); ep != "" {
		e.s3 = &s3test.Server{Endpoint: ep} // the parent's, with its credentials in the environment
	}
	w := e.openIce("run1", e.iceOpts())
	e.mustAppend(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 1, 2, 3), iceMark(t, "2024-03-05T10:00:00Z"))
	w.hook = func(p string) error {
		if p == point {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // SIGKILL cannot be caught; wait for it
		}
		return nil
	}
	_, err := e.append(w, schemas.Events, killBatch(t), iceMark(t, "2024-04-01T00:00:00Z"))
	t.Fatalf("the batch ended (%v) without reaching %q", err, point)
}

func killBatch(t testing.TB) []row {
	return append(events(t, "2024-03-06T10:00:00Z", 4, 5), events(t, "2024-04-01T00:00:00Z", 6)...)
}

// killChild runs TestIcebergKill9Child on e's warehouse (its directory,
// and its bucket if it has one) and waits for it to die of SIGKILL at
// point.
func killChild(t *testing.T, e *env, point string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIcebergKill9Child$", "-test.count=1")
	// The child's own temporary directories go under one of the parent's:
	// SIGKILL leaves it no chance to remove them, and the parent's cleanup
	// does.
	cmd.Env = append(os.Environ(), "LABTRAIL_ICE_KILL_AT="+point, "LABTRAIL_ICE_DIR="+e.dir, "TMPDIR="+t.TempDir())
	if e.s3 != nil {
		cmd.Env = append(cmd.Env, "LABTRAIL_ICE_S3="+e.s3.Endpoint)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v\n%s", err, out)
	}
}

// A labtrail killed with kill -9 at any point of a fact batch (a real
// process, so nothing is aborted or closed) leaves a warehouse the next
// Open recovers: the retried batch ends with the same rows in Iceberg as in
// DuckDB, each once, in every snapshot, and no stray data file, in a local
// warehouse and in an s3:// one.
func TestIcebergKill9AtEveryPoint(t *testing.T) {
	for _, point := range []string{"commit parquet", "commit iceberg", "commit duckdb", "committed duckdb", "publish iceberg", "published iceberg"} {
		t.Run(point, func(t *testing.T) {
			forEachTree(t, func(t *testing.T, e *env) { testIcebergKill9At(t, e, point) })
		})
	}
}

func testIcebergKill9At(t *testing.T, e *env, point string) {
	defer e.alloc.AssertSize(t, 0)
	killChild(t, e, point)
	w := e.openIce("run2", e.iceOpts())
	defer e.close(w)
	if n := queryInt(t, w.DB(), "SELECT count(*) FROM _labtrail_iceberg_pending"); n != 0 {
		t.Errorf("%d batches still pending after Open", n)
	}
	e.mustAppend(w, schemas.Events, killBatch(t), iceMark(t, "2024-04-01T00:00:00Z"))
	e.sameInIceberg(w)
	if got := len(e.iceRows(w, schemas.Events, 0)); got != 6 {
		t.Errorf("Iceberg events has %d rows, want 6", got)
	}
	e.noUnlistedFiles(w, schemas.Events)
}
