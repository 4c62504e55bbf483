// Package cmem tunes the C allocator that DuckDB (and SQLite, for an
// Iceberg catalog file) allocate from. Go's own memory is not affected:
// the Go runtime does not use malloc.
package cmem

import "errors"

// ErrUnsupported is returned where the C library has no such setting (a
// build without cgo, or a C library other than glibc).
var ErrUnsupported = errors.New("cmem: not supported by this build's C library")
