package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The baseline (-baseline REV) is a second mesh-cni, built from another
// revision of this repository, that sections 1 and 2 run beside this
// tree's, taking turns with it in the same run: a change's cost is told
// from the machine's moods only that way.

// baseline is the second plugin binary and its CNI_PATH.
type baseline struct {
	// rev is the revision as asked for, commit its abbreviated hash.
	rev, commit string
	// dir is its CNI_PATH: its mesh-cni beside the same pinned plugins.
	dir     string
	meshCNI string
	size    int64
}

// buildBaseline exports rev of the repository at root (git archive) into
// a temporary directory under b.dir and builds its mesh-cni there the way
// buildBinaries builds this tree's.
func buildBaseline(t *phase, b *binaries, rev string) *baseline {
	out, err := exec.Command("git", "-C", b.root, "rev-parse", "--short", rev+"^{commit}").Output()
	if err != nil {
		t.Fatalf("-baseline %s: not a commit of %s: %v", rev, b.root, err)
	}
	bl := &baseline{rev: rev, commit: strings.TrimSpace(string(out)), dir: filepath.Join(b.dir, "baseline")}
	src := filepath.Join(b.dir, "baseline-src")
	for _, d := range []string{src, bl.dir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("baseline: %v", err)
		}
	}
	tarball := src + ".tar"
	for _, c := range [][]string{{"git", "-C", b.root, "archive", "--format=tar", "-o", tarball, bl.commit}, {"tar", "-xf", tarball, "-C", src}} {
		if o, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("baseline: %s: %v: %s", strings.Join(c, " "), err, o)
		}
	}
	bl.meshCNI = filepath.Join(bl.dir, "mesh-cni")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bl.meshCNI, "./cmd/mesh-cni")
	cmd.Dir, cmd.Env = src, append(os.Environ(), "CGO_ENABLED=0")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("baseline: go build ./cmd/mesh-cni at %s: %v\n%s", bl.commit, err, o)
	}
	st, err := os.Stat(bl.meshCNI)
	if err != nil {
		t.Fatalf("baseline: %v", err)
	}
	bl.size = st.Size()
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if err := os.Symlink(filepath.Join(b.dir, p), filepath.Join(bl.dir, p)); err != nil {
			t.Fatalf("baseline: linking CNI plugin %s: %v", p, err)
		}
	}
	t.Logf("baseline mesh-cni built from %s (%s), %s", rev, bl.commit, mib(bl.size))
	return bl
}

// targetBaseline is how much slower than the baseline's a median may be.
const targetBaseline = 500 * time.Microsecond

// baselineTargets are the Targets rows comparing this tree's medians with
// the baseline's: meshed ADD per backend, both skip paths.
func baselineTargets(r *results) []target {
	bl := r.baseline
	if bl == nil {
		return nil
	}
	var pairs [][2]series
	for _, a := range r.add {
		pairs = append(pairs, [2]series{a.mesh, a.base})
	}
	if s := r.skip; s != nil {
		pairs = append(pairs, [2]series{s.excluded, s.baseExcluded}, [2]series{s.noSidecar, s.baseNoSidecar})
	}
	var ts []target
	for _, p := range pairs {
		ours, theirs := summarize(p[0].d).med, summarize(p[1].d).med
		d := ours - theirs
		ts = append(ts, target{p[0].name + " against the baseline", fmt.Sprintf("median at most 0.5 ms above %s's", bl.commit),
			fmt.Sprintf("%s against %s (%s)", ms(ours), ms(theirs), signedMS(d)),
			verdict(d <= targetBaseline, "by "+ms(d-targetBaseline))})
	}
	return ts
}

// writeBaseline says what the baseline rows are.
func writeBaseline(sb *strings.Builder, r *results) {
	bl := r.baseline
	if bl == nil {
		return
	}
	fmt.Fprintf(sb, "## The baseline\n\n"+
		"This run also measured mesh-cni built from `%s` (%s, %s; this tree's is %s), in sections 1 and 2: it takes turns "+
		"with this tree's mesh-cni and the osm-init chain, run by run, on networks of its own with the same agent, pods "+
		"and backends, and its netns are checked the same way (the kube-apiserver's counts there include its ADDs). Its rows "+
		"are marked \"baseline\".\n\n",
		bl.rev, bl.commit, mib(bl.size), mib(r.binarySize))
}
