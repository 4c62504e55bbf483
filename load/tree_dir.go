package load

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/labtrail/labtrail/internal/fsx"
)

// dirTree is the Parquet tree in a local directory. Its guarantees rest on
// rename: files are written under .staging and renamed into place, so a
// reader never sees a half-written file, and a batch's files appear only
// just before its DuckDB commit. Its methods live next to the protocol they
// serve (parquet.go for batches and dimensions, compact.go for compaction).
type dirTree struct {
	dir string
	enc encoder
	at  func(point string) error // the Warehouse's test hook
	log *slog.Logger
}

func newDirTree(dir string, enc encoder, at func(string) error, log *slog.Logger) (*dirTree, error) {
	if err := fsx.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("load: creating %s: %w", dir, err)
	}
	return &dirTree{dir: dir, enc: enc, at: at, log: log}, nil
}

func (d *dirTree) String() string { return d.dir }

func (d *dirTree) claim(_ context.Context, _ execer, duckPath string) error {
	return claimParquetDir(d.dir, duckPath)
}

func (d *dirTree) newBatch() treeBatch { return &parquetPending{tree: d} }

func (d *dirTree) open(_ context.Context, rel string) (treeFile, error) {
	return os.Open(filepath.Join(d.dir, filepath.FromSlash(rel)))
}

func (d *dirTree) close() error { return nil }
