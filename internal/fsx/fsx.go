// Package fsx holds the few filesystem primitives labtrail needs for crash
// safety and that package os does not offer: fsync of directories, mkdir that
// makes new entries durable, rename without replacing, atomic exchange of two
// paths, and an advisory whole-file lock.
//
// Functions return errors wrapping the underlying *os.PathError or
// *os.LinkError, so errors.Is(err, fs.ErrExist) and friends work.
package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrExchangeUnsupported is returned by Exchange when the operating system or
// the filesystem cannot swap two paths atomically. Callers fall back to a
// sequence of renames.
var ErrExchangeUnsupported = errors.New("fsx: atomic exchange is not supported here")

// ErrWouldBlock is returned by Lock when another open file description (in
// this process or another) holds the lock.
var ErrWouldBlock = errors.New("fsx: lock is held elsewhere")

// SyncDir fsyncs directory dir so that entries created, renamed or removed in
// it survive a crash. Filesystems that cannot fsync a directory (EINVAL) are
// treated as having nothing to sync.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) {
		err = nil
	}
	return errors.Join(err, d.Close())
}

// MkdirAll is os.MkdirAll that also fsyncs the parent of every directory it
// creates, so that the new directories survive a crash. Existing directories
// are left alone.
func MkdirAll(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created concurrently; whoever did it syncs the parent
		}
		return err
	}
	if err := SyncDir(parent); err != nil {
		return fmt.Errorf("fsx: syncing %s after creating %s: %w", parent, filepath.Base(dir), err)
	}
	return nil
}

// RenameNoReplace renames oldpath to newpath, failing with an error wrapping
// fs.ErrExist if newpath already exists. It does not fsync anything.
func RenameNoReplace(oldpath, newpath string) error {
	return renameNoReplace(oldpath, newpath)
}

// Exchange atomically swaps the directory entries a and b, which must both
// exist on the same filesystem (Linux renameat2 RENAME_EXCHANGE). It returns
// an error wrapping ErrExchangeUnsupported where that is not available. It
// does not fsync anything.
func Exchange(a, b string) error {
	return exchange(a, b)
}

// fallbackRenameNoReplace gives no-replace semantics without renameat2: a hard
// link fails atomically if newpath exists; where hard links are not possible
// it checks and renames, which is only safe while the caller holds an
// exclusive lock on the directory tree (labtrail always does).
func fallbackRenameNoReplace(oldpath, newpath string) error {
	err := os.Link(oldpath, newpath)
	if err == nil {
		return os.Remove(oldpath)
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, statErr := os.Lstat(newpath); statErr == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	} else if !errors.Is(statErr, fs.ErrNotExist) {
		return statErr
	}
	return os.Rename(oldpath, newpath)
}
