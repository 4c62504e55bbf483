//go:build !linux

package s3test

import "os/exec"

// setDeathSignal is Linux-only; elsewhere t.Cleanup alone stops the gateway.
func setDeathSignal(*exec.Cmd) {}

// lockFile does not lock off Linux: parallel first builds may race, and the
// last rename wins with an identical binary.
func lockFile(string) (func(), error) { return func() {}, nil }
