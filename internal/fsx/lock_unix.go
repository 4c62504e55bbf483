//go:build unix

package fsx

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Lock is an exclusive advisory lock (flock(2)) on a file. The lock belongs
// to the open file description, so a second Lock on the same path conflicts
// even inside the same process. It is released by Unlock or when the process
// exits, however it exits.
type Lock struct {
	f *os.File
}

// TryLock takes an exclusive lock on path without waiting, creating the file
// if needed, and writes the caller's pid into it for diagnostics. If the lock
// is held elsewhere it returns an error wrapping ErrWouldBlock.
func TryLock(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("flock %s: %w", path, ErrWouldBlock)
		}
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	// The pid is informative only; failing to write it does not matter.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock. The lock file is left in place: removing it would
// let two processes hold "the" lock on two different inodes.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	err = errors.Join(err, l.f.Close())
	l.f = nil
	return err
}
