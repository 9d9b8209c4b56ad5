// Package atomicfile replaces files so that a reader (the container runtime
// loading a CNI config, kubelet executing a plugin) sees either the old
// content or the new, never a truncated file, even if the writer is killed.
package atomicfile

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the name of every temporary file this package creates.
// It begins with a dot so that CNI config loaders (which match *.conf,
// *.conflist, *.json) and kubelet (which looks plugins up by exact name)
// never pick one up.
const TempPrefix = ".mesh-cni-tmp-"

// Write replaces path with data and the given mode: it writes a temporary
// file in the same directory, fsyncs it, sets the mode, renames it over path
// and fsyncs the directory so the rename survives a crash.
func Write(path string, data []byte, mode os.FileMode) error {
	return write(path, mode, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// Copy replaces dst with the content of src, with the given mode, in the
// same all-or-nothing way as Write.
func Copy(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer in.Close()
	return write(dst, mode, func(f *os.File) error {
		_, err := io.Copy(f, in)
		return err
	})
}

func write(path string, mode os.FileMode, fill func(*os.File) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return fmt.Errorf("making a temporary name for %s: %w", path, err)
	}
	tmp := filepath.Join(dir, TempPrefix+base+"-"+hex.EncodeToString(suffix))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	if err := finish(f, mode, fill); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	return syncDir(dir)
}

func finish(f *os.File, mode os.FileMode, fill func(*os.File) error) error {
	err := fill(f)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		// Chmod after creation: the umask must not narrow the mode we keep.
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// RemoveStale deletes the temporary files a killed writer left in dir and
// returns their paths.
func RemoveStale(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var removed []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), TempPrefix) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return removed, fmt.Errorf("removing %s: %w", p, err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// Digest returns the hex SHA-256 of the file at path, streaming it so that
// a large plugin binary is never held in memory. A missing file yields "".
func Digest(path string) (string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
