//go:build linux && cgo

package cmem

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
static int set_mmap_threshold(int n) { return mallopt(M_MMAP_THRESHOLD, n); }
static size_t mapped_bytes(void) { return mallinfo2().hblkhd; }
#else
static int set_mmap_threshold(int n) { return -1; }
static size_t mapped_bytes(void) { return 0; }
#endif
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// SetMmapThreshold makes every C allocation of at least n bytes a mapping
// of its own, returned to the operating system when it is freed, and
// turns off glibc's dynamic threshold, which otherwise rises to the size
// of the largest block freed (up to 32 MiB on 64-bit) and then serves such
// blocks from the malloc arenas, where freed memory stays resident until
// the arena's top is trimmed. Safe to call at any time; it applies to the
// allocations that follow.
func SetMmapThreshold(n int) error {
	switch r := C.set_mmap_threshold(C.int(n)); r {
	case 1:
		return nil
	case -1:
		return ErrUnsupported
	default:
		return fmt.Errorf("cmem: mallopt(M_MMAP_THRESHOLD, %d) refused", n)
	}
}

// mappedWhile reports how many bytes malloc holds in mappings of their own
// while a block of n bytes is allocated (for tests).
func mappedWhile(n int) int {
	p := C.malloc(C.size_t(n))
	defer C.free(unsafe.Pointer(p))
	return int(C.mapped_bytes())
}

// allocFree allocates n bytes and frees them (for tests).
func allocFree(n int) { C.free(C.malloc(C.size_t(n))) }
