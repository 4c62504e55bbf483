//go:build !(linux && cgo)

package cmem

// SetMmapThreshold is not supported by this build; see the linux and cgo
// build.
func SetMmapThreshold(n int) error { return ErrUnsupported }
