package cmem

import (
	"errors"
	"testing"
)

// Once set, the threshold stays where it was put: a freed block larger
// than it (which raises glibc's dynamic threshold to its size) does not
// stop the next block above the threshold from being a mapping of its own,
// so freeing it returns its memory to the system.
func TestSetMmapThresholdIsFixed(t *testing.T) {
	if err := SetMmapThreshold(128 << 10); errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	allocFree(8 << 20) // would raise a dynamic threshold to 8 MiB
	base := mappedWhile(0)
	if got := mappedWhile(512 << 10); got < base+512<<10 {
		t.Errorf("a 512 KiB block after an 8 MiB one: %d bytes mapped, want at least %d", got, base+512<<10)
	}
}
