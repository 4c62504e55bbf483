package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMkdirAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "c")
	if err := MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "f"), "x")
	if err := MkdirAll(filepath.Join(dir, "f"), 0o755); err == nil {
		t.Error("MkdirAll over a file succeeded")
	}
	if err := SyncDir(dir); err != nil {
		t.Error(err)
	}
}

func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "a")
	write(t, b, "b")
	if err := RenameNoReplace(a, b); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("rename over an existing file: %v", err)
	}
	if read(t, b) != "b" || read(t, a) != "a" {
		t.Fatal("files changed")
	}
	c := filepath.Join(dir, "c")
	if err := RenameNoReplace(a, c); err != nil {
		t.Fatal(err)
	}
	if read(t, c) != "a" {
		t.Error("content")
	}
	if _, err := os.Stat(a); !errors.Is(err, fs.ErrNotExist) {
		t.Error("source survived")
	}
	if err := fallbackRenameNoReplace(c, b); !errors.Is(err, fs.ErrExist) {
		t.Errorf("fallback over an existing file: %v", err)
	}
	if err := fallbackRenameNoReplace(c, a); err != nil || read(t, a) != "a" {
		t.Errorf("fallback: %v", err)
	}
}

func TestExchange(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(b, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(a, "in-a"), "a")
	write(t, filepath.Join(b, "in-b"), "b")
	err := Exchange(a, b)
	if errors.Is(err, ErrExchangeUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(a, "in-b")) != "b" || read(t, filepath.Join(b, "in-a")) != "a" {
		t.Error("not exchanged")
	}
	if err := Exchange(a, filepath.Join(dir, "missing")); err == nil {
		t.Error("exchange with a missing path succeeded")
	}
}

func TestTryLock(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.lock")
	l, err := TryLock(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(name); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("second lock: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := TryLock(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Unlock(); err != nil {
		t.Fatal(err)
	}
}
