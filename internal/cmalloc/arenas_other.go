//go:build !linux || !cgo

package cmalloc

// LimitArenas does nothing where the C allocator is not glibc's.
func LimitArenas(n int) bool { return false }
