package client

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFileAtomic replaces name with data so that a crash leaves either the
// old or the new file, never a torn one: temp file in the same directory,
// fsync, rename, fsync of the directory.
func writeFileAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cache temp file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write cache: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close cache: %w", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("replace cache: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		// The rename is durable only once the directory is synced.
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// removeFile deletes name; a missing file is not an error.
func removeFile(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete cache: %w", err)
	}
	return nil
}
