package rules

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Backend is the iptables backend: "nft" or "legacy".
type Backend string

const (
	// BackendNFT drives the kernel's nf_tables through iptables-nft.
	BackendNFT Backend = "nft"
	// BackendLegacy drives the older x_tables through iptables-legacy.
	BackendLegacy Backend = "legacy"
)

// ParseBackend accepts a backend name; the empty string means "detect".
func ParseBackend(s string) (Backend, error) {
	switch b := Backend(s); b {
	case "", BackendNFT, BackendLegacy:
		return b, nil
	}
	return "", fmt.Errorf("unknown iptables backend %q (want %s or %s)", s, BackendNFT, BackendLegacy)
}

// tool is one of the programs mesh-cni runs: save or restore.
type tool string

const (
	toolSave    tool = "save"
	toolRestore tool = "restore"
)

// sbinDirs are searched after PATH: container runtimes run CNI plugins
// with whatever PATH they had, which often lacks the sbin directories.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

var toolPaths sync.Map // "iptables-nft-save" -> resolved path

// toolPath finds the program for a backend, family and tool. Debian and
// most distributions ship iptables-nft-save and iptables-legacy-save; an
// older or minimal one ships only iptables-save, which is used when its
// --version says it is the wanted backend.
func toolPath(b Backend, fam Family, t tool) (string, error) {
	name := fmt.Sprintf("%s-%s-%s", binary(fam), b, t)
	if p, ok := toolPaths.Load(name); ok {
		return p.(string), nil
	}
	p, err := lookPath(name)
	if err != nil {
		plain := fmt.Sprintf("%s-%s", binary(fam), t)
		pp, perr := lookPath(plain)
		if perr != nil {
			return "", fmt.Errorf("%s not found (nor %s): install iptables", name, plain)
		}
		if m := toolMode(pp); m != b {
			return "", fmt.Errorf("%s not found and %s is the %q backend", name, pp, m)
		}
		p = pp
	}
	toolPaths.Store(name, p)
	return p, nil
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// toolMode asks a program without a backend in its name which backend it
// is: iptables 1.8 prints "(nf_tables)" or "(legacy)"; 1.6 and older print
// neither and only know legacy.
func toolMode(path string) Backend {
	out, _ := exec.Command(path, "--version").CombinedOutput()
	if bytes.Contains(out, []byte("nf_tables")) {
		return BackendNFT
	}
	return BackendLegacy
}

// command is the name used in error messages: "ip6tables-restore".
func command(fam Family, t tool) string {
	return binary(fam) + "-" + string(t)
}

// errNoTable marks a family whose nat table cannot be read at all, e.g.
// IPv6 on a kernel booted with ipv6.disable=1.
var errNoTable = errors.New("nat table not available")

// legacyNATListed reports whether the legacy x_tables nat table exists in
// the calling thread's network namespace. The kernel instantiates a legacy
// table per namespace only when something uses it, so its absence proves
// legacy holds no rules there without running a program.
func legacyNATListed(fam Family) bool {
	name := "ip_tables_names"
	if fam == IPv6 {
		name = "ip6_tables_names"
	}
	// thread-self, not self: /proc/self/net is the namespace of the
	// process' main thread, not of the locked thread that entered the pod.
	b, err := os.ReadFile("/proc/thread-self/net/" + name)
	if err != nil {
		return false
	}
	for _, l := range strings.Fields(string(b)) {
		if l == Table {
			return true
		}
	}
	return false
}
