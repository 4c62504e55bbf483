package load

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/labtrail/labtrail/internal/fsx"
	"github.com/labtrail/labtrail/schemas"
)

// CompactStats reports what Compact did.
type CompactStats struct {
	// Partitions is how many partitions were rewritten into one file.
	Partitions int
	// FilesRemoved is how many files those partitions held before.
	FilesRemoved int
	// Rows is how many rows those partitions hold (unchanged by Compact).
	Rows int64
	// IcebergPartitions, IcebergFilesRemoved and IcebergRows are the same
	// for the Iceberg tables (zero without Iceberg).
	IcebergPartitions, IcebergFilesRemoved int
	IcebergRows                            int64
}

// Compact merges the files of every fact table partition holding more than
// one into a single file, rows unchanged, atomically for readers. For each
// partition <ParquetDir>/<table>/created_month=M:
//
//  1. write the merged file into a fresh directory
//     <ParquetDir>/.compact/<table>/created_month=M, fsync;
//  2. in one DuckDB transaction, replace the partition's files in the
//     _labtrail_files manifest by the merged file: the commit point;
//  3. swap the two directories with renameat2(RENAME_EXCHANGE), so that
//     read_parquet sees either all the old files or the merged one, never
//     both; fsync both parents;
//  4. delete the old directory, now under .compact.
//
// Where RENAME_EXCHANGE is unsupported (not Linux, or a filesystem without
// it), step 3 is two renames (live → .compact/…/M.old, merged → live): in the
// tiny window between them the partition is missing for readers, though never
// duplicated.
//
// On a bucket (bucketTree) there is no directory to swap: step 1 writes
// the merged object into the live partition under a new unique key, step 2
// is the same commit point, and steps 3 and 4 delete the old objects, so a
// reader listing the partition sees both between steps 1 and 4.
//
// A crash is repaired by the next Open, a failure by the next Open or
// Compact (see dirTree.recover): before step 2 commits, the .compact
// directory is discarded; after it, the swap is finished. Partitions already
// at one file are skipped. The merged file has the table's current schema:
// columns older files lack are null.
//
// With Iceberg, each fact table's partitions of more than one data file are
// then rewritten into one file each, swapped in by one replace snapshot per
// table (see icebergLake.compact), and old snapshots are expired.
func (w *Warehouse) Compact(ctx context.Context) (CompactStats, error) {
	var stats CompactStats
	unlock, err := w.begin()
	if err != nil {
		return stats, err
	}
	defer unlock()

	manifest, err := loadManifest(ctx, w.conn)
	if err != nil {
		return stats, err
	}
	// An earlier Compact of this Warehouse may have failed after its commit
	// point; finish it first, or this one would replace the merged file
	// waiting in .compact, which the manifest lists.
	recorded := make(map[string]bool, len(manifest))
	byPart := map[string][]fileEntry{}
	for _, f := range manifest {
		recorded[f.path] = true
		part := path.Dir(f.path)
		byPart[part] = append(byPart[part], f)
	}
	if err := w.parquet.tree.recover(ctx, recorded); err != nil {
		return stats, err
	}
	for _, t := range schemas.Facts() {
		var parts []string
		for part, files := range byPart {
			if len(files) > 1 && strings.HasPrefix(part, t.Name+"/") {
				parts = append(parts, part)
			}
		}
		slices.Sort(parts)
		for _, part := range parts {
			if err := ctx.Err(); err != nil {
				return stats, err
			}
			files := byPart[part]
			rows, err := w.rewritePartition(ctx, t, part, files, partitionRewrite{})
			if err != nil {
				return stats, fmt.Errorf("load: compacting %s: %w", part, err)
			}
			stats.Partitions++
			stats.FilesRemoved += len(files)
			stats.Rows += rows
		}
	}
	if w.ice == nil {
		return stats, nil
	}
	if err := w.publishPendingLocked(ctx); err != nil {
		return stats, err
	}
	for _, t := range schemas.Facts() {
		parts, files, rows, err := w.ice.compact(ctx, t)
		if err != nil {
			return stats, err
		}
		stats.IcebergPartitions += parts
		stats.IcebergFilesRemoved += files
		stats.IcebergRows += rows
	}
	return stats, w.ice.maintain(ctx)
}

// partitionRewrite is what rewritePartition changes besides merging files:
// nothing for a compaction.
type partitionRewrite struct {
	// mapRec, if set, returns the record to write in place of rec (a
	// record of the table's schema); the caller releases both.
	mapRec func(rec arrow.RecordBatch) (arrow.RecordBatch, error)
	// inTx, if set, runs in the commit transaction, so that DuckDB's rows
	// change exactly when the rewritten file replaces the old ones.
	inTx func() error
}

// rewritePartition merges files, the manifest rows of partition part
// ("<table>/created_month=M"), into one file, changed by rw, with the
// protocol Compact describes.
func (w *Warehouse) rewritePartition(ctx context.Context, t schemas.Table, part string, files []fileEntry, rw partitionRewrite) (int64, error) {
	tr := w.parquet.tree
	// 1. The merged file.
	name := w.nextFileName()
	discard := func(err error) error { return errors.Join(err, tr.discardMerged(part, name)) }
	var want, got int64
	err := tr.stageMerged(ctx, part, name, t.Schema, func(fw *pqarrow.FileWriter) error {
		for _, f := range files {
			want += f.rows
			src, err := tr.open(ctx, f.path)
			if err != nil {
				return fmt.Errorf("reading %s: %w", f.path, err)
			}
			n, err := copyParquet(ctx, w.alloc, fw, t.Schema, src, rw.mapRec)
			got += n
			if err != nil {
				return fmt.Errorf("reading %s: %w", f.path, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, discard(err)
	}
	if got != want {
		return 0, discard(fmt.Errorf("the files hold %d rows, the manifest says %d; not compacting", got, want))
	}

	// 2. The commit point.
	if err := w.at("compact commit"); err != nil {
		return 0, discard(err)
	}
	old := make([]string, len(files))
	for i, f := range files {
		old[i] = f.path
	}
	merged := []fileEntry{{table: t.Name, path: path.Join(part, name), rows: got}}
	err = w.duck.inTx(ctx, merged, func() error {
		if err := deleteFiles(ctx, w.conn, old); err != nil {
			return err
		}
		if rw.inTx != nil {
			if err := rw.inTx(); err != nil {
				return err
			}
		}
		return insertFiles(ctx, w.conn, merged, w.runID)
	})
	if errors.Is(err, errCommitUnknown) {
		// The manifest may list the merged file: keep it for recovery,
		// which decides from the manifest.
		return 0, err
	}
	if err != nil {
		return 0, discard(err)
	}

	// 3. and 4. From here on, failures leave the rest for the next Open or
	// Compact to finish with.
	if err := w.at("compact swap"); err != nil {
		return 0, err
	}
	return got, tr.finishCompaction(ctx, part, name, old)
}

// stageMerged writes the merged file into a fresh directory
// .compact/<part>, fsynced (step 1 of Compact).
func (d *dirTree) stageMerged(_ context.Context, part, name string, sc *arrow.Schema, fill fillFunc) error {
	stage := filepath.Join(d.dir, compactDir, filepath.FromSlash(part))
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	if err := fsx.MkdirAll(stage, 0o755); err != nil {
		return err
	}
	if err := d.writeFile(filepath.Join(stage, name), sc, fill); err != nil {
		return err
	}
	return fsx.SyncDir(stage)
}

// discardMerged removes the staging copy of part.
func (d *dirTree) discardMerged(part, _ string) error {
	return os.RemoveAll(filepath.Join(d.dir, compactDir, filepath.FromSlash(part)))
}

// finishCompaction swaps the staging copy of part with the live partition,
// then deletes the old files, now in the staging directory (steps 3 and 4).
func (d *dirTree) finishCompaction(_ context.Context, part, _ string, _ []string) error {
	live := filepath.Join(d.dir, filepath.FromSlash(part))
	stage := filepath.Join(d.dir, compactDir, filepath.FromSlash(part))
	if err := swapDirs(stage, live); err != nil {
		return err
	}
	if err := d.at("compact cleanup"); err != nil {
		return err
	}
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	return fsx.SyncDir(filepath.Dir(stage))
}

// swapDirs exchanges the directories stage and live: afterwards live has what
// stage had and stage has what live had. See Compact for the fallback.
func swapDirs(stage, live string) error { return swapDirsWith(fsx.Exchange, stage, live) }

func swapDirsWith(exchange func(a, b string) error, stage, live string) error {
	err := exchange(stage, live)
	if errors.Is(err, fsx.ErrExchangeUnsupported) {
		old := stage + ".old"
		if err := os.RemoveAll(old); err != nil {
			return err
		}
		if err := os.Rename(live, old); err != nil {
			return err
		}
		if err := os.Rename(stage, live); err != nil {
			return err
		}
		err = os.Rename(old, stage)
	}
	if err != nil {
		return err
	}
	return errors.Join(fsx.SyncDir(filepath.Dir(live)), fsx.SyncDir(filepath.Dir(stage)))
}

// recover finishes or undoes the compactions a crash interrupted,
// given the set of paths the manifest lists. For each staging directory
// .compact/<table>/<partition>:
//
//   - if it holds a file the manifest lists, the merged file committed but
//     the swap did not happen: files of the live partition that the manifest
//     lists (written after the commit, by a process that kept running) are
//     moved into the staging directory, then the two are swapped;
//   - then the staging directory, which holds nothing the manifest lists, is
//     deleted, as are leftovers of the rename fallback (*.old).
//
// Open runs it before .staging is emptied and before orphans are swept,
// which would otherwise delete the old files of a live partition whose
// merged replacement is still waiting in .compact; Compact runs it first
// too. Both hold the lock and the write mutex.
func (d *dirTree) recover(_ context.Context, recorded map[string]bool) error {
	root := filepath.Join(d.dir, compactDir)
	tables, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load: recovering compactions: %w", err)
	}
	for _, td := range tables {
		if !td.IsDir() {
			continue
		}
		parts, err := os.ReadDir(filepath.Join(root, td.Name()))
		if err != nil {
			return fmt.Errorf("load: recovering compactions: %w", err)
		}
		for _, pd := range parts {
			if !pd.IsDir() || strings.HasSuffix(pd.Name(), ".old") {
				continue
			}
			part := path.Join(td.Name(), pd.Name())
			if err := d.recoverCompaction(part, recorded); err != nil {
				return fmt.Errorf("load: recovering the compaction of %s: %w", part, err)
			}
		}
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("load: recovering compactions: %w", err)
	}
	return fsx.SyncDir(d.dir)
}

func (d *dirTree) recoverCompaction(part string, recorded map[string]bool) error {
	stage := filepath.Join(d.dir, compactDir, filepath.FromSlash(part))
	live := filepath.Join(d.dir, filepath.FromSlash(part))
	staged, err := os.ReadDir(stage)
	if err != nil {
		return err
	}
	committed := false
	inStage := map[string]bool{}
	for _, e := range staged {
		inStage[e.Name()] = true
		if recorded[path.Join(part, e.Name())] {
			committed = true
		}
	}
	if !committed {
		// Either the compaction never committed (this is a merged file
		// nobody owns) or it finished swapping (these are the replaced
		// files). The caller deletes the whole .compact tree.
		d.log.Warn("removing what an interrupted compaction left behind", "partition", part)
		return nil
	}

	d.log.Warn("finishing an interrupted compaction", "partition", part)
	liveFiles, err := os.ReadDir(live)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// The rename fallback stopped between its two renames.
		if err := os.Rename(stage, live); err != nil {
			return err
		}
		return fsx.SyncDir(filepath.Dir(live))
	case err != nil:
		return err
	}
	for _, e := range liveFiles {
		if recorded[path.Join(part, e.Name())] && !inStage[e.Name()] {
			if err := fsx.RenameNoReplace(filepath.Join(live, e.Name()), filepath.Join(stage, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := fsx.SyncDir(stage); err != nil {
		return err
	}
	return swapDirs(stage, live)
}
