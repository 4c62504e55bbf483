package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/labtrail/labtrail/schemas"
)

// removeOrphans deletes data files of this warehouse (their names carry
// its owner prefix) that no snapshot of their table lists: the files of
// batches whose DuckDB transaction never committed, or of a compaction cut
// short. It runs in Open after recover, when no batch is pending; the
// warehouse lock means no file of this owner is being written, and other
// writers' files never carry the prefix, so they are never touched,
// whatever state they are in. It lists a local warehouse's directories,
// or an s3:// warehouse's bucket (through the AWS default credential
// chain, as the Parquet tree does); a REST catalog's storage is the
// catalog's to reach, and is left alone.
func (l *icebergLake) removeOrphans(ctx context.Context) (err error) {
	var dir dataDir
	switch {
	case strings.HasPrefix(l.location, "file://"):
		dir = localDataDir{}
	case strings.HasPrefix(l.location, "s3://"):
		b := &bucketDataDir{store: l.store, buckets: map[string]*blob.Bucket{}}
		defer func() { err = errors.Join(err, b.close()) }()
		dir = b
	default:
		return nil
	}
	for _, t := range schemas.All() {
		if err := l.removeTableOrphans(ctx, t, dir); err != nil {
			return fmt.Errorf("load: iceberg: removing orphan data files of %s: %w", t.Name, err)
		}
	}
	return nil
}

func (l *icebergLake) removeTableOrphans(ctx context.Context, t schemas.Table, dir dataDir) error {
	tbl, listed, err := l.loadListed(ctx, t)
	if err != nil {
		return err
	}
	files, err := dir.list(ctx, tbl.Location()+"/data")
	if err != nil {
		return err
	}
	for _, f := range files {
		if !strings.Contains(path.Base(f), "-"+l.owner+"-") || listed[f] || listed[strings.TrimPrefix(f, "file://")] {
			continue
		}
		l.log.Warn("deleting an Iceberg data file no snapshot lists (left by an interrupted run)", "table", t.Name, "file", f)
		if err := dir.remove(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// dataDir lists and deletes the files under a table's data directory,
// named as manifests name them (file:// or s3:// URLs).
type dataDir interface {
	// list returns every file under dir; none if dir is in a storage
	// this dataDir does not reach.
	list(ctx context.Context, dir string) ([]string, error)
	remove(ctx context.Context, file string) error
}

// localDataDir is a file:// warehouse's directories.
type localDataDir struct{}

func (localDataDir) list(_ context.Context, dir string) ([]string, error) {
	u, err := url.Parse(dir)
	if err != nil || u.Scheme != "file" {
		return nil, nil // a table placed elsewhere by another writer's configuration
	}
	var out []string
	err = filepath.WalkDir(filepath.FromSlash(u.Path), func(name string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		case !d.IsDir():
			out = append(out, "file://"+filepath.ToSlash(name))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	return out, nil
}

func (localDataDir) remove(_ context.Context, file string) error {
	if err := os.Remove(filepath.FromSlash(strings.TrimPrefix(file, "file://"))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// bucketDataDir is an s3:// warehouse's objects, through one bucket
// handle per bucket the tables live in.
type bucketDataDir struct {
	store   ObjectStore
	buckets map[string]*blob.Bucket
}

// bucket returns the open bucket of an s3:// URL (nil if raw is not
// one) and the URL's key and host.
func (d *bucketDataDir) bucket(ctx context.Context, raw string) (_ *blob.Bucket, key, host string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, "", "", nil
	}
	b := d.buckets[u.Host]
	if b == nil {
		if b, err = openS3(ctx, u.Host, d.store); err != nil {
			return nil, "", "", fmt.Errorf("opening s3://%s: %w", u.Host, err)
		}
		d.buckets[u.Host] = b
	}
	return b, strings.TrimPrefix(u.Path, "/"), u.Host, nil
}

func (d *bucketDataDir) list(ctx context.Context, dir string) ([]string, error) {
	b, key, host, err := d.bucket(ctx, dir)
	if b == nil || err != nil {
		return nil, err
	}
	var out []string
	it := b.List(&blob.ListOptions{Prefix: strings.TrimSuffix(key, "/") + "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", dir, err)
		}
		if !obj.IsDir {
			out = append(out, "s3://"+host+"/"+obj.Key)
		}
	}
}

func (d *bucketDataDir) remove(ctx context.Context, file string) error {
	b, key, _, err := d.bucket(ctx, file)
	if b == nil || err != nil {
		return err
	}
	if err := b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("deleting %s: %w", file, err)
	}
	return nil
}

func (d *bucketDataDir) close() error {
	var errs []error
	for name, b := range d.buckets {
		if err := b.Close(); err != nil {
			errs = append(errs, fmt.Errorf("load: iceberg: closing s3://%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
