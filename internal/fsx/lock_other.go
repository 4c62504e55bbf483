//go:build !unix

package fsx

import (
	"errors"
	"fmt"
)

// Lock is an exclusive advisory lock on a file; not supported on this
// platform.
type Lock struct{}

// TryLock is not supported on this platform.
func TryLock(path string) (*Lock, error) {
	return nil, fmt.Errorf("fsx: locking %s: %w", path, errors.ErrUnsupported)
}

// Unlock does nothing.
func (l *Lock) Unlock() error { return nil }
