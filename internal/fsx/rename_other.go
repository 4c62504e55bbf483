//go:build !linux

package fsx

import "os"

func renameNoReplace(oldpath, newpath string) error {
	return fallbackRenameNoReplace(oldpath, newpath)
}

func exchange(a, b string) error {
	return &os.LinkError{Op: "exchange", Old: a, New: b, Err: ErrExchangeUnsupported}
}
