//go:build linux && cgo

package cmalloc

/*
#include <malloc.h>

static int labtrail_limit_arenas(int n) {
#ifdef M_ARENA_MAX
	return mallopt(M_ARENA_MAX, n);
#else
	return 0;
#endif
}
*/
import "C"

// LimitArenas caps the C allocator's arenas at n, for the allocations C
// code makes from now on. It reports whether the allocator took the cap
// (glibc does; musl has no arenas to cap).
func LimitArenas(n int) bool { return C.labtrail_limit_arenas(C.int(n)) == 1 }
