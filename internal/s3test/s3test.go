// Package s3test starts a real S3 server for tests: Versity's gateway
// (github.com/versity/versitygw, a pinned version) with its posix backend
// over a temporary directory, on 127.0.0.1, with a random root key. Tests of
// object storage run against it rather than an in-process fake, so that
// what they prove (conditional writes, listings, deletes, multipart
// uploads) is what an S3 server does.
//
// The gateway binary is found, in order, at $LABTRAIL_VERSITYGW (set by
// `make test`, which builds it), in the user cache directory
// (<cache>/labtrail/versitygw-<version>/versitygw), or built there on first
// use with `go install` from the Go module proxy, under a file lock so that
// test packages running in parallel build it once. Start fails the test,
// never skips it, when the gateway cannot be built or started.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/labtrail/labtrail/internal/testkit"
)

// Version is the versitygw release the tests run against (its go.mod asks
// for Go 1.25, which our Go 1.26 builds).
const Version = "v1.8.0"

// Module is the gateway's command, as `go install` takes it.
const Module = "github.com/versity/versitygw/cmd/versitygw"

// BinaryEnv names the variable that points at a prebuilt gateway binary.
const BinaryEnv = "LABTRAIL_VERSITYGW"

// Region is the region the gateway answers for.
const Region = "us-east-1"

// startTimeout bounds how long a started gateway may take to answer.
// It is not a timing assertion: only a gateway that never comes up fails.
const startTimeout = 2 * time.Minute

// Server is a running gateway. Its credentials are the root user's; the
// test passes them to the code under test through the standard AWS
// environment variables (Env), never through configuration.
type Server struct {
	// Endpoint is the gateway's URL, http://127.0.0.1:<port>.
	Endpoint string
	// Root is the directory the posix backend stores buckets in: bucket B's
	// object K is the file Root/B/K.
	Root      string
	AccessKey string
	SecretKey string
	client    *s3.Client
}

// Start starts a gateway for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary(t)
	s := &Server{Root: t.TempDir(), AccessKey: "lt" + randomHex(8), SecretKey: randomHex(20)}
	var lastErr error
	for range 3 { // a port found free can be taken before the gateway binds it
		if lastErr = s.launch(t, bin); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("s3test: the S3 gateway (versitygw %s) did not start: %v", Version, lastErr)
	}
	s.client = s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	return s
}

func (s *Server) launch(t testing.TB, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logs := &testkit.SyncBuffer{}
	cmd := exec.Command(bin, "--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", Region, "--quiet", "posix", s.Root)
	cmd.Env = append(os.Environ(), "VGW_LOG_LEVEL=silent")
	cmd.Stdout, cmd.Stderr = logs, logs
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	s.Endpoint = "http://" + addr
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the gateway exited (%v): %s", err, strings.TrimSpace(logs.String()))
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("no answer on %s after %s: %v; its output: %s", addr, startTimeout, err, strings.TrimSpace(logs.String()))
		}
	}
	t.Cleanup(stop)
	return nil
}

// Env sets the standard AWS variables for t so that the AWS SDK's default
// credential chain finds the root key, and clears those that would
// override it (a profile, a session token, a web identity).
func (s *Server) Env(t testing.TB) {
	t.Helper()
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// CreateBucket creates a bucket named name (3 to 63 lowercase letters,
// digits and hyphens).
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if _, err := s.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: creating bucket %s: %v", name, err)
	}
}

// Client returns an S3 client with the root key, for tests that look at
// the bucket behind the code under test's back.
func (s *Server) Client() *s3.Client { return s.client }

// ObjectStore is the object_store block of a config pointing at s.
func (s *Server) ObjectStore() string {
	return fmt.Sprintf("{endpoint: %s, region: %s, path_style: true}", s.Endpoint, Region)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b)
}

// binary returns the gateway binary's path, building it if need be.
func binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("s3test: %s=%s: %v", BinaryEnv, p, err)
		}
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("s3test: no cache directory to build the S3 gateway in (set %s): %v", BinaryEnv, err)
	}
	dir := filepath.Join(cache, "labtrail", "versitygw-"+Version)
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := build(dir, bin); err != nil {
		t.Fatalf("s3test: building the S3 gateway (go install %s@%s): %v", Module, Version, err)
	}
	return bin
}

// build installs the gateway into dir, once across processes: under an
// exclusive lock, into a temporary GOBIN renamed into place.
func build(dir, bin string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return nil // another process built it while we waited
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not on PATH: %w", err)
	}
	cmd := exec.Command(goBin, "install", Module+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	built := filepath.Join(tmp, "versitygw")
	if _, err := os.Stat(built); err != nil {
		return errors.Join(errors.New("go install left no versitygw binary"), err)
	}
	return os.Rename(built, bin)
}

// Download copies every object of bucket under prefix into dir, keeping
// their keys' paths relative to prefix, through the S3 API: what a reader
// listing the prefix sees.
func Download(ctx context.Context, c *s3.Client, bucket, prefix, dir string) error {
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3test: listing %s/%s: %w", bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if strings.HasSuffix(key, "/") {
				continue
			}
			if err := download(ctx, c, bucket, key, filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(key, prefix+"/")))); err != nil {
				return err
			}
		}
	}
	return os.MkdirAll(dir, 0o755)
}

func download(ctx context.Context, c *s3.Client, bucket, key, name string) error {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("s3test: getting %s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		f.Close()
		return fmt.Errorf("s3test: getting %s/%s: %w", bucket, key, err)
	}
	return f.Close()
}

// Upload puts data at key, unconditionally, as another writer would.
func Upload(ctx context.Context, c *s3.Client, bucket, key string, data []byte) error {
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		return fmt.Errorf("s3test: putting %s/%s: %w", bucket, key, err)
	}
	return nil
}
