package install

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/install/atomicfile"
	"github.com/mesh-cni/mesh-cni/internal/install/entry"
	"github.com/mesh-cni/mesh-cni/internal/journal"
)

// journalSlack is added to the plugin's API timeout to bound an ADD that an
// earlier plugin binary was running when ours replaced it: a sandbox that
// came up within that bound of the journal's start may be its, unrecorded.
const journalSlack = 5 * time.Second

// openJournal decides, before anything of this installer can send a pod to
// the plugin, from when the plugin's journal (internal/journal) lists every
// sandbox it set up on this node:
//   - the node's plugin binaries are ours and the journal has begun: it
//     stays as it is, since only our binary ran (an agent restart, a roll
//     with skip-cleanup);
//   - they are ours, the journal is gone and the run dir is a tmpfs: the
//     node rebooted, and since boot only our binary can have set pods up;
//   - otherwise (a first install, another version's binary, ours removed
//     by an uninstall): the journal is cleared and begins once our binary
//     is in place (beginJournal), so pods set up before are never judged.
func (in *Installer) openJournal() error {
	j := journal.Journal{RunDir: in.cfg.RunDir}
	ours, err := in.binariesOurs()
	if err != nil {
		return err
	}
	_, err = j.Since()
	switch {
	case ours && err == nil:
		in.journalBegun = true
		return nil
	case ours && errors.Is(err, journal.ErrNoSince) && onTmpfs(in.cfg.RunDir):
		boot, err := bootTime()
		if err != nil {
			in.log.Warn("cannot read the boot time; pods set up before this installer are not judged by the plugin's journal", "error", err.Error())
			break
		}
		in.journalBegun = true
		in.log.Info("the plugin's journal of set-up pods begins at the node's boot", "boot", boot.UTC().Format(time.RFC3339))
		return j.Begin(boot)
	}
	return j.Remove()
}

// beginJournal starts the journal once our binary is in every bin dir.
func (in *Installer) beginJournal() error {
	if in.journalBegun {
		return nil
	}
	if err := BeginJournal(in.cfg.RunDir, in.apiTimeout, in.log); err != nil {
		return err
	}
	in.journalBegun = true
	return nil
}

// BeginJournal starts the plugin's journal in runDir now: a sandbox whose
// pod comes up later than one ADD can take (apiTimeout, the plugin's) is
// one the plugin recorded if it set it up. `installer agent` calls it at
// start: it cannot know which plugin set up pods before.
func BeginJournal(runDir string, apiTimeout time.Duration, log *slog.Logger) error {
	at := time.Now().Add(apiTimeout + journalSlack)
	if err := (journal.Journal{RunDir: runDir}).Begin(at); err != nil {
		return err
	}
	log.Info("the plugin's journal of set-up pods begins", "at", at.UTC().Format(time.RFC3339Nano), "dir", runDir)
	return nil
}

// binariesOurs says whether every bin dir holds our plugin binary.
func (in *Installer) binariesOurs() (bool, error) {
	for _, dir := range in.cfg.BinDirs {
		d, err := atomicfile.Digest(filepath.Join(dir, entry.PluginType))
		if err != nil {
			return false, err
		}
		if d != in.sourceDigest {
			return false, nil
		}
	}
	return len(in.cfg.BinDirs) > 0, nil
}

// onTmpfs says whether dir is on a tmpfs, which a reboot empties.
func onTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}

// bootTime is when the machine booted (/proc/stat's btime, the kernel's,
// whatever the pid namespace).
func bootTime() (time.Time, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("parsing /proc/stat's btime %q: %w", v, err)
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, errors.New("no btime in /proc/stat")
}
