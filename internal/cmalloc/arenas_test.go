package cmalloc

import (
	"path/filepath"
	"runtime"
	"testing"
)

// TestLimitArenasOnGlibc: on glibc (Debian, the CI) the cap must take,
// or cmd/labtrail's call is silently doing nothing.
func TestLimitArenasOnGlibc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the arena cap is glibc's")
	}
	if musl, _ := filepath.Glob("/lib/ld-musl-*"); len(musl) > 0 {
		t.Skip("musl libc: no arenas to cap")
	}
	if !LimitArenas(2) {
		t.Fatal("glibc refused mallopt(M_ARENA_MAX, 2)")
	}
}
