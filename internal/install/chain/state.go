package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/mesh-cni/mesh-cni/internal/install/atomicfile"
)

// state remembers a conversion of a single-plugin file, so that uninstall
// can put the original file back byte for byte.
type state struct {
	// List is the .conflist we wrote.
	List string `json:"list"`
	// Conf is the file it replaced.
	Conf string `json:"conf"`
	// Original is Conf's content.
	Original []byte `json:"original"`
	// Mode is Conf's permission bits.
	Mode uint32 `json:"mode"`
	// Written is the SHA-256 of what we wrote to List: if List still has
	// it, nobody else has touched the file and restoring Conf is exact.
	Written string `json:"written"`
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func loadState(path string) (*state, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return &st, nil
}

func saveState(path string, st state) error {
	if path == "" {
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return atomicfile.Write(path, data, 0o600)
}

func clearState(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}
