package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// Listen creates the socket at path, replacing one a previous agent left,
// readable and writable by root only: the answers include any pod's
// annotations, and a request may write events. It refuses a directory
// that another user could write: they could put a socket of theirs in
// place of ours, and the plugin would trust its answers.
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the agent socket's directory: %w", err)
	}
	if err := onlyOwnerWrites(dir); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the old agent socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restricting %s: %w", path, err)
	}
	return ln, nil
}

// onlyOwnerWrites checks that no user but root or this process's own may
// add, remove or rename entries in dir. A sticky directory (/tmp) is no
// better: while no agent listens, another user could put a socket at the
// path.
func onlyOwnerWrites(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("checking the agent socket's directory: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("checking the agent socket's directory %s: no owner in its status", dir)
	}
	if owner := int(sys.Uid); owner != 0 && owner != os.Geteuid() {
		return fmt.Errorf("the agent socket's directory %s belongs to uid %d, who could replace the socket: use a directory of root's", dir, owner)
	}
	if st.Mode()&0o022 != 0 {
		return fmt.Errorf("the agent socket's directory %s is writable by others (%v), who could replace the socket: remove their write permission", dir, st.Mode())
	}
	return nil
}
