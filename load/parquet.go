package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/labtrail/labtrail/internal/fsx"
	"github.com/labtrail/labtrail/schemas"
)

const (
	// stagingDir (under ParquetDir) holds files being written. Everything in
	// it is disposable: Open empties it.
	stagingDir = ".staging"
	// compactDir (under ParquetDir) holds partitions being compacted. It is
	// not disposable: Open finishes or undoes what it finds there, see
	// dirTree.recover.
	compactDir = ".compact"
	// dimensionFile is the one file of a dimension dataset.
	dimensionFile = "data.parquet"
	// unknownMonth is the partition of fact rows with a null created_at.
	unknownMonth = "unknown"
	// rowGroupRows caps the rows in one Parquet row group.
	rowGroupRows = 128 << 10
	// readBatchRows is the batch size when reading Parquet back.
	readBatchRows = 64 << 10
)

// parquetSink is the Parquet side of the warehouse, over a directory or a
// bucket (see tree). Every call happens under the Warehouse's mutex.
type parquetSink struct {
	tree     tree
	alloc    memory.Allocator
	nextName func() string // a new, unused file name
}

func (p *parquetSink) name() string { return "parquet" }

// prepare writes each partition of b to its own file through the tree (see
// tree.newBatch for what readers can see before the commit point), and
// records the files' final paths in b.files.
func (p *parquetSink) prepare(ctx context.Context, b *factBatch) (_ pending, err error) {
	batch := p.tree.newBatch()
	defer func() {
		if err != nil {
			err = errors.Join(err, batch.abort())
		}
	}()
	for _, part := range b.parts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rel := path.Join(b.table.Name, schemas.PartitionColumn+"="+part.month, p.nextName())
		sub, err := takeRows(ctx, p.alloc, b.table.Schema, b.rec, part.rows)
		if err != nil {
			return nil, fmt.Errorf("load: parquet: selecting %s rows of %s: %w", part.month, b.table.Name, err)
		}
		err = batch.write(ctx, rel, b.table.Schema, func(fw *pqarrow.FileWriter) error { return fw.Write(sub) })
		sub.Release()
		if err != nil {
			return nil, err
		}
		b.files = append(b.files, fileEntry{table: b.table.Name, path: rel, rows: int64(len(part.rows))})
	}
	return batch, nil
}

type stagedFile struct {
	staged, final string
	renamed       bool
}

// parquetPending is a batch written to a directory tree's .staging.
type parquetPending struct {
	tree  *dirTree
	files []stagedFile
}

// write writes rel under .staging, fsynced but invisible to readers.
func (p *parquetPending) write(_ context.Context, rel string, sc *arrow.Schema, fill fillFunc) error {
	staged := filepath.Join(p.tree.dir, stagingDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		return fmt.Errorf("load: parquet: %w", err)
	}
	if err := p.tree.writeFile(staged, sc, fill); err != nil {
		return fmt.Errorf("load: parquet: writing %s: %w", staged, err)
	}
	p.files = append(p.files, stagedFile{staged: staged, final: filepath.Join(p.tree.dir, filepath.FromSlash(rel))})
	return nil
}

// commit renames the staged files into their partitions (never replacing a
// file) and fsyncs the partition directories. From here on readers see the
// rows, before DuckDB commits; if DuckDB then fails, abort deletes them again,
// and if the process dies first, Open does.
func (p *parquetPending) commit(ctx context.Context) error {
	dirs := map[string]bool{}
	for i := range p.files {
		f := &p.files[i]
		dir := filepath.Dir(f.final)
		if err := fsx.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("load: parquet: %w", err)
		}
		if err := fsx.RenameNoReplace(f.staged, f.final); err != nil {
			return fmt.Errorf("load: parquet: publishing %s: %w", f.final, err)
		}
		f.renamed = true
		dirs[dir] = true
	}
	for _, dir := range sortedKeys(dirs) {
		if err := fsx.SyncDir(dir); err != nil {
			return fmt.Errorf("load: parquet: %w", err)
		}
	}
	return nil
}

// abort deletes the batch's files, wherever they are.
func (p *parquetPending) abort() error {
	var errs []error
	for _, f := range p.files {
		name := f.staged
		if f.renamed {
			name = f.final
		}
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("load: parquet: removing %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// encoder writes the one Parquet format of every file, whatever the tree:
// zstd, plain encoding, and the Arrow schema stored in the file so that
// types round-trip exactly.
//
// No dictionary pages: zstd already folds the repeated strings a
// dictionary would (action names, usernames, label names), and building
// the dictionaries was the dearest part of writing a batch. Measured on 2
// December 2026 (5,000 event rows in memory; the bench instance's first
// run; its compaction): a batch encoded in 4.6 ms against 7.9, the run's
// events files 7.9 MB against 8.4, compacted 5.95 MB against 6.03.
type encoder struct{ alloc memory.Allocator }

func (e encoder) writerProps() (*parquet.WriterProperties, pqarrow.ArrowWriterProperties) {
	return parquet.NewWriterProperties(
			parquet.WithCompression(compress.Codecs.Zstd),
			parquet.WithDictionaryDefault(false),
			parquet.WithAllocator(e.alloc),
			parquet.WithMaxRowGroupLength(rowGroupRows),
			parquet.WithCreatedBy("labtrail"),
		), pqarrow.NewArrowWriterProperties(
			pqarrow.WithStoreSchema(),
			pqarrow.WithAllocator(e.alloc),
		)
}

// writerOnly hides the destination's Close from pqarrow, which would
// otherwise close a file before it can be fsynced, or an upload before its
// caller decides whether to finish it.
type writerOnly struct{ io.Writer }

// encode writes records of schema sc, written by fill, as one Parquet file
// to dst.
func (e encoder) encode(dst io.Writer, sc *arrow.Schema, fill fillFunc) error {
	props, arrowProps := e.writerProps()
	fw, err := pqarrow.NewFileWriter(sc, writerOnly{dst}, props, arrowProps)
	if err != nil {
		return err
	}
	if err := fill(fw); err != nil {
		return errors.Join(err, fw.Close())
	}
	return fw.Close()
}

// fileBuffer is the write buffer of a Parquet file: the encoder writes a
// page at a time, and 64 KiB already makes those a few writes a file. It
// was 1 MiB, allocated for every file of every batch: 145 MB of the 1.6 GB
// a 189,934-event backfill allocated (3 December 2026; no change in its
// time or the run's peak was measurable either way).
const fileBuffer = 64 << 10

// writeFile creates name, lets fill write records of schema sc into it, and
// fsyncs it. On error the file is removed.
func (d *dirTree) writeFile(name string, sc *arrow.Schema, fill fillFunc) (err error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(name)
		}
	}()
	bw := bufio.NewWriterSize(f, fileBuffer)
	if err := d.enc.encode(bw, sc, fill); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// publish rewrites <dir>/<rel> with the records fill writes: written in
// .staging, fsynced, renamed over the old file, directory fsynced. Readers
// see the old file or the new one, never a mix.
func (d *dirTree) publish(ctx context.Context, rel string, sc *arrow.Schema, fill fillFunc) error {
	staged := filepath.Join(d.dir, stagingDir, filepath.FromSlash(rel))
	final := filepath.Join(d.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		return fmt.Errorf("load: parquet: %w", err)
	}
	if err := d.writeFile(staged, sc, fill); err != nil {
		return fmt.Errorf("load: parquet: writing %s: %w", staged, err)
	}
	if err := fsx.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return errors.Join(fmt.Errorf("load: parquet: %w", err), os.Remove(staged))
	}
	if err := os.Rename(staged, final); err != nil {
		return errors.Join(fmt.Errorf("load: parquet: publishing %s: %w", final, err), os.Remove(staged))
	}
	if err := fsx.SyncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("load: parquet: %w", err)
	}
	return nil
}

// publishDimension rewrites <tree>/<t>/data.parquet with the records scan
// emits, atomically for readers (see tree.publish).
func (p *parquetSink) publishDimension(ctx context.Context, t schemas.Table, scan func(emit func(arrow.RecordBatch) error) error) error {
	return p.tree.publish(ctx, path.Join(t.Name, dimensionFile), t.Schema, func(fw *pqarrow.FileWriter) error {
		return scan(func(rec arrow.RecordBatch) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fw.Write(rec)
		})
	})
}

// reconcile brings the Parquet datasets in line with the manifest, after a
// crash or a failed batch (see tree.reconcile), and warns about listed files
// that are missing. It also sets w.seq past every file name this run id
// already used.
func (w *Warehouse) reconcile(ctx context.Context) error {
	manifest, err := loadManifest(ctx, w.conn)
	if err != nil {
		return err
	}
	recorded := make(map[string]bool, len(manifest))
	prefix := fileSafe(w.runID) + "-"
	for _, f := range manifest {
		recorded[f.path] = true
		base := path.Base(f.path)
		if rest, ok := strings.CutPrefix(base, prefix); ok {
			if n, err := strconv.ParseInt(strings.TrimSuffix(rest, ".parquet"), 10, 64); err == nil && n > w.seq {
				w.seq = n
			}
		}
	}
	if err := w.parquet.tree.reconcile(ctx, recorded); err != nil {
		return err
	}
	for _, f := range manifest {
		if recorded[f.path] {
			w.log.Warn("a Parquet file recorded in the manifest is missing; its rows are only in DuckDB", "table", f.table, "file", f.path, "rows", f.rows)
		}
	}
	return nil
}

// reconcile finishes or undoes interrupted compactions, empties .staging and
// deletes fact files the manifest does not list (each logged at Warn).
func (d *dirTree) reconcile(ctx context.Context, recorded map[string]bool) error {
	if err := d.recover(ctx, recorded); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(d.dir, stagingDir)); err != nil {
		return fmt.Errorf("load: emptying %s: %w", stagingDir, err)
	}

	for _, t := range schemas.Facts() {
		root := filepath.Join(d.dir, t.Name)
		dirs := map[string]bool{}
		err := filepath.WalkDir(root, func(name string, de fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && name == root {
					return filepath.SkipDir
				}
				return err
			}
			if de.IsDir() || !strings.HasSuffix(name, ".parquet") {
				return nil
			}
			rel, err := filepath.Rel(d.dir, name)
			if err != nil {
				return err
			}
			if recorded[filepath.ToSlash(rel)] {
				delete(recorded, filepath.ToSlash(rel))
				return nil
			}
			d.log.Warn("deleting a Parquet file no committed batch owns (left by an interrupted run)", "table", t.Name, "file", name)
			if err := os.Remove(name); err != nil {
				return err
			}
			dirs[filepath.Dir(name)] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("load: reconciling %s: %w", root, err)
		}
		for _, dir := range sortedKeys(dirs) {
			if err := fsx.SyncDir(dir); err != nil {
				return fmt.Errorf("load: reconciling %s: %w", root, err)
			}
			_ = os.Remove(dir) // a partition left empty; fails harmlessly if not empty
		}
	}
	return nil
}

// takeRows returns a record of schema sc with rows (indices into rec, in
// that order), allocated from mem. The caller releases it.
func takeRows(ctx context.Context, mem memory.Allocator, sc *arrow.Schema, rec arrow.RecordBatch, rows []int) (arrow.RecordBatch, error) {
	if isIdentity(rows, int(rec.NumRows())) {
		return array.NewRecordBatch(sc, rec.Columns(), rec.NumRows()), nil
	}
	ib := array.NewInt64Builder(mem)
	defer ib.Release()
	ib.Reserve(len(rows))
	for _, r := range rows {
		ib.UnsafeAppend(int64(r))
	}
	idx := ib.NewInt64Array()
	defer idx.Release()

	cctx := compute.WithAllocator(ctx, mem)
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, col := range rec.Columns() {
		var err error
		if cols[i], err = compute.TakeArray(cctx, col, idx); err != nil {
			return nil, fmt.Errorf("column %s: %w", sc.Field(i).Name, err)
		}
	}
	return array.NewRecordBatch(sc, cols, int64(len(rows))), nil
}

func isIdentity(rows []int, n int) bool {
	if len(rows) != n {
		return false
	}
	for i, r := range rows {
		if r != i {
			return false
		}
	}
	return true
}

// conform returns rec as a record of schema sc: columns matched by name,
// columns rec lacks (files written before a column was added) filled with
// nulls. A column whose type differs is an error. The caller releases the
// result.
func conform(mem memory.Allocator, sc *arrow.Schema, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(rec.NumRows())
	cols := make([]arrow.Array, sc.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, f := range sc.Fields() {
		idx := rec.Schema().FieldIndices(f.Name)
		if len(idx) == 0 {
			cols[i] = array.MakeArrayOfNull(mem, f.Type, n)
			continue
		}
		col := rec.Column(idx[0])
		if !arrow.TypeEqual(col.DataType(), f.Type) {
			return nil, fmt.Errorf("column %s is %s in the file, %s in the schema", f.Name, col.DataType(), f.Type)
		}
		col.Retain()
		cols[i] = col
	}
	return array.NewRecordBatch(sc, cols, int64(n)), nil
}

// copyParquet appends every row of the Parquet file src to fw, conformed to
// sc and, if mapRec is set, changed by it, and returns how many rows it
// copied. It closes src.
func copyParquet(ctx context.Context, mem memory.Allocator, fw *pqarrow.FileWriter, sc *arrow.Schema, src treeFile,
	mapRec func(arrow.RecordBatch) (arrow.RecordBatch, error)) (int64, error) {
	rdr, err := file.NewParquetReader(src, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return 0, errors.Join(err, src.Close())
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: readBatchRows}, mem)
	if err != nil {
		return 0, err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return 0, err
	}
	defer rr.Release()
	var n int64
	for rr.Next() {
		rec, err := conform(mem, sc, rr.RecordBatch())
		if err != nil {
			return n, err
		}
		if mapRec != nil {
			mapped, err := mapRec(rec)
			rec.Release()
			if err != nil {
				return n, err
			}
			rec = mapped
		}
		err = fw.WriteBuffered(rec)
		n += rec.NumRows()
		rec.Release()
		if err != nil {
			return n, err
		}
	}
	return n, rr.Err()
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
