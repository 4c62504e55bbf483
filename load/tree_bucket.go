package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob:// URLs, credentials from the Azure default chain
	_ "gocloud.dev/blob/gcsblob"   // gs:// URLs, credentials from Application Default Credentials
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/labtrail/labtrail/schemas"
)

const (
	// parquetContentType is the media type of every object written.
	parquetContentType = "application/vnd.apache.parquet"
	// uploadPartBytes is the part size of multipart uploads, S3's minimum:
	// an upload holds one part in memory at a time (uploadConcurrency).
	uploadPartBytes   = 5 << 20
	uploadConcurrency = 1
	// wholeReadBytes: objects up to this size are read in one GET when
	// compacted; larger ones with a ranged GET per Parquet read.
	wholeReadBytes = 8 << 20
	// cleanupTimeout bounds the deletes that undo a failed write.
	cleanupTimeout = 2 * time.Minute
	// defaultRegion is the region of an S3 endpoint when neither
	// object_store nor the AWS configuration names one (S3-compatible
	// servers accept it).
	defaultRegion = "us-east-1"
)

// bucketTree is the Parquet tree under a prefix of an object bucket (S3 or
// S3-compatible, Google Cloud Storage, Azure Blob Storage), through
// gocloud.dev/blob. A bucket has no rename, so exactly-once rests on the
// manifest alone:
//
//   - a batch's files are written once each under unique keys (run id and
//     sequence number) with a conditional write (If-None-Match: *, gocloud's
//     IfNotExist), so no object is ever overwritten; they are listed as soon
//     as written and count as stored only once the DuckDB transaction that
//     lists them in _labtrail_files commits. A batch that fails deletes
//     them; one that crashed leaves them for Open, which lists the prefix
//     and deletes every fact object the manifest does not list.
//   - dimensions and bridges are one PUT replacing <table>/data.parquet (a
//     PUT is atomic: readers get the old object or the new one).
//   - a compaction writes the merged object under a new unique key in the
//     partition, swaps the manifest in one DuckDB transaction (the commit
//     point), then deletes the old objects. Until then a reader listing
//     the prefix sees old and merged objects both; an interrupted
//     compaction is finished or undone by the next Open (or Compact), which
//     deletes whichever side the manifest does not list.
type bucketTree struct {
	url    string       // scheme://bucket/prefix, for messages
	bucket *blob.Bucket // prefixed: keys are paths relative to the tree
	// cleanup is the context of deletes that undo a failed write: the
	// Open context's values without its cancellation (a batch interrupted
	// by a signal must still remove its objects), bounded by cleanupTimeout.
	cleanup context.Context
	enc     encoder
	at      func(point string) error
	log     *slog.Logger
}

// openBucketTree opens the bucket raw names (scheme://bucket[/prefix]).
func openBucketTree(ctx context.Context, raw string, store ObjectStore, enc encoder, at func(string) error, log *slog.Logger) (_ *bucketTree, err error) {
	// Messages never quote raw: it may carry credentials that config
	// validation would have refused.
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("load: the parquet location is not a valid URL")
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("load: the parquet location must be %s://bucket/prefix, with no credentials, query or fragment", u.Scheme)
	}
	prefix := strings.Trim(u.Path, "/")
	name := u.Scheme + "://" + u.Host
	if prefix != "" {
		name += "/" + prefix
	}
	var b *blob.Bucket
	if u.Scheme == "s3" {
		b, err = openS3(ctx, u.Host, store)
	} else {
		b, err = blob.OpenBucket(ctx, u.Scheme+"://"+u.Host)
	}
	if err != nil {
		return nil, fmt.Errorf("load: opening %s: %w", name, err)
	}
	if prefix != "" {
		b = blob.PrefixedBucket(b, prefix+"/")
	}
	return &bucketTree{url: name, bucket: b, cleanup: context.WithoutCancel(ctx), enc: enc, at: at, log: log}, nil
}

// openS3 opens an S3 bucket with the AWS SDK's default configuration
// (credentials from the environment, shared config and files, SSO, web
// identity or instance roles), pointed at store's endpoint if it has one.
func openS3(ctx context.Context, bucket string, store ObjectStore) (*blob.Bucket, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if store.Region != "" {
		opts = append(opts, awsconfig.WithRegion(store.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if store.Endpoint != "" {
			o.BaseEndpoint = aws.String(store.Endpoint)
		}
		o.UsePathStyle = store.PathStyle
	})
	return s3blob.OpenBucket(ctx, client, bucket, &s3blob.Options{RequestChecksumCalculation: cfg.RequestChecksumCalculation})
}

func (b *bucketTree) String() string { return b.url }

func (b *bucketTree) close() error { return b.bucket.Close() }

// put writes the object rel with the records fill writes. exclusive makes
// it a conditional write that fails if rel exists. On error nothing is
// written (the upload is cancelled).
func (b *bucketTree) put(ctx context.Context, rel string, sc *arrow.Schema, fill fillFunc, exclusive bool) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bw, err := b.bucket.NewWriter(wctx, rel, &blob.WriterOptions{
		ContentType: parquetContentType, IfNotExist: exclusive,
		BufferSize: uploadPartBytes, MaxConcurrency: uploadConcurrency,
	})
	if err != nil {
		return fmt.Errorf("load: parquet: writing %s/%s: %w", b.url, rel, err)
	}
	if err := b.enc.encode(bw, sc, fill); err != nil {
		cancel() // aborts the upload: Close then fails and writes nothing
		return errors.Join(fmt.Errorf("load: parquet: writing %s/%s: %w", b.url, rel, err), ignoreCancelled(bw.Close()))
	}
	if err := bw.Close(); err != nil {
		if gcerrors.Code(err) == gcerrors.FailedPrecondition {
			return fmt.Errorf("load: parquet: %s/%s exists already; objects are never overwritten: %w", b.url, rel, err)
		}
		return fmt.Errorf("load: parquet: writing %s/%s: %w", b.url, rel, err)
	}
	return nil
}

func ignoreCancelled(err error) error {
	if gcerrors.Code(err) == gcerrors.Canceled || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// undo deletes the object rel after a failed write, whatever became of the
// write's context.
func (b *bucketTree) undo(rel string) error {
	ctx, cancel := context.WithTimeout(b.cleanup, cleanupTimeout)
	defer cancel()
	return b.remove(ctx, rel)
}

// remove deletes the object rel; one already gone is no error.
func (b *bucketTree) remove(ctx context.Context, rel string) error {
	if err := b.bucket.Delete(ctx, rel); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("load: parquet: deleting %s/%s: %w", b.url, rel, err)
	}
	return nil
}

// objectBatch is a batch's objects, written under their final keys.
type objectBatch struct {
	tree *bucketTree
	keys []string
}

func (b *bucketTree) newBatch() treeBatch { return &objectBatch{tree: b} }

func (o *objectBatch) write(ctx context.Context, rel string, sc *arrow.Schema, fill fillFunc) error {
	if err := o.tree.put(ctx, rel, sc, fill, true); err != nil {
		return err
	}
	o.keys = append(o.keys, rel)
	return nil
}

// commit has nothing to do: the objects are in place, and the DuckDB
// commit that lists them is what makes them count.
func (o *objectBatch) commit(context.Context) error { return nil }

// abort deletes the batch's objects; it works after the batch's context
// was cancelled.
func (o *objectBatch) abort() error {
	var errs []error
	for _, k := range o.keys {
		errs = append(errs, o.tree.undo(k))
	}
	return errors.Join(errs...)
}

// publish replaces rel in one PUT.
func (b *bucketTree) publish(ctx context.Context, rel string, sc *arrow.Schema, fill fillFunc) error {
	return b.put(ctx, rel, sc, fill, false)
}

func (b *bucketTree) stageMerged(ctx context.Context, part, name string, sc *arrow.Schema, fill fillFunc) error {
	return b.put(ctx, path.Join(part, name), sc, fill, true)
}

func (b *bucketTree) discardMerged(part, name string) error {
	return b.undo(path.Join(part, name))
}

// finishCompaction deletes the replaced objects. Until it has, a reader
// listing the partition sees them beside the merged one.
func (b *bucketTree) finishCompaction(ctx context.Context, _, _ string, old []string) error {
	if err := b.at("compact cleanup"); err != nil {
		return err
	}
	for _, rel := range old {
		if err := b.remove(ctx, rel); err != nil {
			return err
		}
	}
	return nil
}

// reconcile deletes every fact object the manifest does not list: a
// crashed batch's, or the side of an interrupted compaction that did not
// commit (its merged object, or the objects it replaced).
func (b *bucketTree) reconcile(ctx context.Context, recorded map[string]bool) error {
	for _, t := range schemas.Facts() {
		var orphans []string
		it := b.bucket.List(&blob.ListOptions{Prefix: t.Name + "/"})
		for {
			obj, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("load: reconciling %s/%s: listing: %w", b.url, t.Name, err)
			}
			if obj.IsDir || !strings.HasSuffix(obj.Key, ".parquet") {
				continue
			}
			if recorded[obj.Key] {
				delete(recorded, obj.Key)
				continue
			}
			orphans = append(orphans, obj.Key)
		}
		for _, k := range orphans {
			b.log.Warn("deleting a Parquet object no committed batch owns (left by an interrupted run or compaction)", "table", t.Name, "object", b.url+"/"+k)
			if err := b.remove(ctx, k); err != nil {
				return fmt.Errorf("load: reconciling %s/%s: %w", b.url, t.Name, err)
			}
		}
	}
	return nil
}

// recover is reconcile's sweep, on a copy of recorded.
func (b *bucketTree) recover(ctx context.Context, recorded map[string]bool) error {
	cp := make(map[string]bool, len(recorded))
	for k, v := range recorded {
		cp[k] = v
	}
	return b.reconcile(ctx, cp)
}

// open returns rel for reading: in memory if it is small, else through a
// ranged GET per read.
func (b *bucketTree) open(ctx context.Context, rel string) (treeFile, error) {
	attrs, err := b.bucket.Attributes(ctx, rel)
	if err != nil {
		return nil, fmt.Errorf("load: parquet: %s/%s: %w", b.url, rel, err)
	}
	if attrs.Size <= wholeReadBytes {
		data, err := b.bucket.ReadAll(ctx, rel)
		if err != nil {
			return nil, fmt.Errorf("load: parquet: reading %s/%s: %w", b.url, rel, err)
		}
		return nopCloser{bytes.NewReader(data)}, nil
	}
	return &objectFile{ctx: ctx, bucket: b.bucket, key: rel, size: attrs.Size}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// objectFile reads an object with ranged GETs (io.ReaderAt), as the Parquet
// reader asks: the footer, then column chunks.
type objectFile struct {
	ctx    context.Context
	bucket *blob.Bucket
	key    string
	size   int64
	off    int64 // for Seek, which the Parquet reader uses to learn the size
}

func (f *objectFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if off+n > f.size {
		n = f.size - off
	}
	r, err := f.bucket.NewRangeReader(f.ctx, f.key, off, n, nil)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	got, err := io.ReadFull(r, p[:n])
	if err == nil && got < len(p) {
		err = io.EOF
	}
	return got, err
}

func (f *objectFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		f.off = offset
	case io.SeekCurrent:
		f.off += offset
	case io.SeekEnd:
		f.off = f.size + offset
	}
	if f.off < 0 {
		return 0, fmt.Errorf("seek to %d in %s", f.off, f.key)
	}
	return f.off, nil
}

func (f *objectFile) Close() error { return nil }
