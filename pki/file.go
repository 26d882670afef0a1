package pki

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile0600 writes data to path atomically with mode 0600: readers see
// the old file or the new one, never a part, even after a crash.
func WriteFile0600(path string, data []byte) error {
	return writeFileAtomic(path, data, 0o600)
}

// writeFileAtomic writes data to a temporary file next to path, syncs it,
// sets mode exactly (whatever the umask), renames it over path and syncs the
// directory.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*") // created with mode 0600
	if err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("pki: writing %s: %w", path, err)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
