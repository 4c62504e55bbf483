package s3test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestStart puts an object through the gateway and finds it in the posix
// backend's directory, then checks a conditional put of the same key is
// refused: the conditional write labtrail relies on.
func TestStart(t *testing.T) {
	s := Start(t)
	s.CreateBucket(t, "bucket-a")
	ctx := context.Background()
	put := &s3.PutObjectInput{Bucket: aws.String("bucket-a"), Key: aws.String("p/x.txt"), Body: strings.NewReader("hello"), IfNoneMatch: aws.String("*")}
	if _, err := s.Client().PutObject(ctx, put); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.Root, "bucket-a", "p", "x.txt"))
	if err != nil || string(b) != "hello" {
		t.Fatalf("backend file: %q, %v", b, err)
	}
	put.Body = strings.NewReader("again")
	if _, err := s.Client().PutObject(ctx, put); err == nil {
		t.Fatal("a second If-None-Match: * put of the same key succeeded")
	}
	out, err := s.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket-a"), Key: aws.String("p/x.txt")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if got, _ := io.ReadAll(out.Body); string(got) != "hello" {
		t.Errorf("object = %q after the refused put", got)
	}
}

// The Makefile builds the version this package pins.
func TestMakefileBuildsThePinnedVersion(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "VERSITYGW_VERSION := "+Version+"\n") || !strings.Contains(string(b), Module+"@$(VERSITYGW_VERSION)") {
		t.Errorf("the Makefile does not build %s@%s", Module, Version)
	}
}
