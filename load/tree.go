package load

import (
	"context"
	"io"
	"log/slog"
	"net/url"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// tree is where the Parquet datasets live: a local directory (dirTree) or a
// prefix of an object bucket (bucketTree). The fact write protocol,
// compaction and reconciliation are the same for both up to what the
// storage can promise: a directory publishes a file by renaming it into
// place (readers never see a file before its batch's rename), a bucket
// writes each object once under a unique key, where a reader listing the
// prefix sees it at once and the DuckDB manifest alone says whether it
// counts. Paths (rel) are '/'-separated and relative to the tree's root, as
// the manifest stores them.
//
// Every method is called under the Warehouse's write mutex.
type tree interface {
	// String names the tree in messages (its directory or URL).
	String() string
	// claim makes sure the tree belongs to this warehouse, marking it on
	// first use: reconcile deletes what another warehouse's manifest lists.
	claim(ctx context.Context, q execer, duckPath string) error
	// newBatch starts the fact files of one batch; see treeBatch.
	newBatch() treeBatch
	// publish replaces the file rel as a whole: readers see the old file or
	// the new one (dimensions and bridges, <table>/data.parquet).
	publish(ctx context.Context, rel string, sc *arrow.Schema, fill fillFunc) error
	// open opens the file rel for reading.
	open(ctx context.Context, rel string) (treeFile, error)
	// reconcile brings the tree in line with the manifest (the set of paths
	// it lists) when the warehouse opens: it finishes or undoes interrupted
	// compactions and deletes fact files the manifest does not list. It
	// removes from recorded the paths it found.
	reconcile(ctx context.Context, recorded map[string]bool) error
	// recover finishes or undoes what an earlier Compact left half done,
	// before a new one starts; recorded is not changed.
	recover(ctx context.Context, recorded map[string]bool) error
	// stageMerged writes the merged file of a compaction of partition part
	// (see Compact), to be committed by the manifest's swap;
	// discardMerged removes it when that swap does not commit.
	stageMerged(ctx context.Context, part, name string, sc *arrow.Schema, fill fillFunc) error
	discardMerged(part, name string) error
	// finishCompaction makes the merged file of part the only one readers
	// see, once the manifest swap committed; old are the replaced paths.
	// An error leaves the rest to recover or reconcile.
	finishCompaction(ctx context.Context, part, name string, old []string) error
	// close releases what the tree holds open.
	close() error
}

// treeBatch is a batch's fact files written to a tree: the Parquet sink's
// pending write. write adds one file (rel is unique: a new file name).
type treeBatch interface {
	pending
	write(ctx context.Context, rel string, sc *arrow.Schema, fill fillFunc) error
}

// treeFile is a Parquet file opened for reading.
type treeFile interface {
	io.ReaderAt
	io.Seeker
	io.Closer
}

// fillFunc writes the records of one Parquet file.
type fillFunc func(*pqarrow.FileWriter) error

// ObjectStore reaches an S3-compatible server (MinIO, Ceph, R2, Versity)
// when ParquetDir is an s3:// URL; zero values mean AWS's own endpoints and
// the region of the AWS configuration. Credentials never come from here:
// each provider's standard chain (environment, shared config, workload
// identity) supplies them.
type ObjectStore struct {
	Endpoint  string
	Region    string
	PathStyle bool
}

// isObjectURL reports whether the ParquetDir option names a bucket (s3://,
// gs:// or azblob://) rather than a local directory.
func isObjectURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "s3", "gs", "azblob":
		return true
	}
	return false
}

// openTree opens the tree opts name.
func openTree(ctx context.Context, opts Options, enc encoder, at func(string) error, log *slog.Logger) (tree, error) {
	if isObjectURL(opts.ParquetDir) {
		return openBucketTree(ctx, opts.ParquetDir, opts.ObjectStore, enc, at, log)
	}
	return newDirTree(opts.ParquetDir, enc, at, log)
}
