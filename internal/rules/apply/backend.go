package apply

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/rules/nftables"
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

// programDirs are the directories the iptables programs are looked for
// in, in order: PATH's absolute ones (a relative one would find programs
// in the runtime's working directory), then sbinDirs. They are worked out
// once per process, whose PATH does not change, rather than at each of an
// ADD's four lookups. Tests replace it.
var programDirs = sync.OnceValue(func() []string {
	var dirs []string
	for _, d := range append(filepath.SplitList(os.Getenv("PATH")), sbinDirs...) {
		if filepath.IsAbs(d) && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
})

var toolPaths sync.Map // "iptables-nft-save" -> resolved path

// toolPath finds the program for a backend, family and tool. Debian and
// most distributions ship iptables-nft-save and iptables-legacy-save; an
// older or minimal one ships only iptables-save, which is used when it is
// the wanted backend (toolMode). Only what is found is remembered.
func toolPath(b Backend, fam rules.Family, t tool) (string, error) {
	name := fmt.Sprintf("%s-%s-%s", fam.Iptables(), b, t)
	if p, ok := toolPaths.Load(name); ok {
		return p.(string), nil
	}
	p, err := lookPath(name)
	if err != nil {
		plain := command(fam, t)
		pp, perr := lookPath(plain)
		if perr != nil {
			return "", fmt.Errorf("%s not found (nor %s)", name, plain)
		}
		if m := toolMode(pp); m != b {
			return "", fmt.Errorf("%s not found and %s is the %s backend", name, pp, m)
		}
		p = pp
	}
	toolPaths.Store(name, p)
	return p, nil
}

func lookPath(name string) (string, error) {
	for _, d := range programDirs() {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// toolMode says which backend a program without one in its name is. The
// multi-call binaries say it by their name, which costs no program to
// read: on a node with legacy only, every ADD asks it of iptables-save,
// looking for nft. (xtables-multi and iptables-multi are those of
// iptables 1.6 and older, which only know legacy.) Anything else is asked
// for its --version: iptables 1.8 prints "(nf_tables)" or "(legacy)"; 1.6
// and older print neither.
func toolMode(path string) Backend {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		switch filepath.Base(real) {
		case "xtables-nft-multi":
			return BackendNFT
		case "xtables-legacy-multi", "xtables-multi", "iptables-multi", "ip6tables-multi":
			return BackendLegacy
		}
	}
	out, _ := exec.Command(path, "--version").CombinedOutput()
	if bytes.Contains(out, []byte("nf_tables")) {
		return BackendNFT
	}
	return BackendLegacy
}

// installedBackend is the one answer to "is iptables installed", for Apply
// and CNI STATUS alike: the backend whose save and restore programs exist
// for every family in fams. That is want when it is set; else nft where
// its programs are there, which every current distribution defaults to;
// else legacy, as on older distributions that ship only iptables-legacy.
// When there is none, the error names the programs missing and where they
// were looked for.
func installedBackend(want Backend, fams []rules.Family) (Backend, error) {
	candidates := []Backend{BackendNFT, BackendLegacy}
	if want != "" {
		candidates = []Backend{want}
	}
	var problems []string
	for _, b := range candidates {
		var missing []string
		for _, fam := range fams {
			for _, t := range []tool{toolSave, toolRestore} {
				if _, err := toolPath(b, fam, t); err != nil {
					missing = append(missing, err.Error())
				}
			}
		}
		if len(missing) == 0 {
			return b, nil
		}
		problems = append(problems, fmt.Sprintf("%s: %s", b, strings.Join(missing, ", ")))
	}
	names := make([]string, len(fams))
	for i, fam := range fams {
		names[i] = fam.String()
	}
	return "", fmt.Errorf("iptables is not installed for %s (looked in %s): %s",
		strings.Join(names, " and "), strings.Join(programDirs(), ":"), strings.Join(problems, "; "))
}

// CheckInstalled is CNI STATUS's check: nil when some iptables backend's
// programs are installed for IPv4 or for IPv6; else the error Apply would
// fail with, naming the programs missing and where they were looked for.
// A family missing alone (no ip6tables) fails only the ADDs of the pods
// that need it: a failed STATUS would stop every pod's sandbox on the node.
func CheckInstalled() error {
	for _, fam := range rules.Families {
		if _, err := installedBackend("", []rules.Family{fam}); err == nil {
			return nil
		}
	}
	_, err := installedBackend("", rules.Families)
	return err
}

// command is the name used in error messages: "ip6tables-restore".
func command(fam rules.Family, t tool) string {
	return fam.Iptables() + "-" + string(t)
}

// errNoTable marks a family whose nat table cannot be read at all, e.g.
// IPv6 on a kernel booted with ipv6.disable=1.
var errNoTable = errors.New("nat table not available")

// legacyNATListed reports whether the legacy x_tables nat table exists in
// the calling thread's network namespace. The kernel instantiates a legacy
// table per namespace only when something uses it, so its absence proves
// legacy holds no rules there without running a program.
func legacyNATListed(fam rules.Family) bool {
	name := "ip_tables_names"
	if fam == rules.IPv6 {
		name = "ip6_tables_names"
	}
	// thread-self, not self: /proc/self/net is the namespace of the
	// process' main thread, not of the locked thread that entered the pod.
	b, err := os.ReadFile("/proc/thread-self/net/" + name)
	if err != nil {
		return false
	}
	for _, l := range strings.Fields(string(b)) {
		if l == rules.Table {
			return true
		}
	}
	return false
}

// nftNATMissing reports whether nf_tables certainly has no `nat` table of
// the family in the calling thread's network namespace, asking the kernel
// over netlink (NFT_MSG_GETTABLE, nftables.HasNATTable) instead of running
// iptables-nft-save: in a new pod's namespace, where there is none, that
// saves one program per family on every ADD. Any answer but "no such
// table" (an old kernel, a netlink error) returns false, and the caller
// reads the table with iptables-nft-save as usual.
func nftNATMissing(fam rules.Family) bool {
	exists, err := nftables.HasNATTable(fam)
	return err == nil && !exists
}
