package install

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/install/atomicfile"
	"github.com/mesh-cni/mesh-cni/internal/install/chain"
	"github.com/mesh-cni/mesh-cni/internal/install/entry"
	"github.com/mesh-cni/mesh-cni/internal/install/phase"
)

// syncAll brings the node to the installed state. The order matters: the
// agent comes first, since an entry an earlier installer left may already
// send pods to it; the chain entry goes in last, so it never names a
// missing binary or an agent that does not answer. Readiness follows only
// a complete pass.
func (in *Installer) syncAll() {
	in.api.refresh()
	steps := []struct {
		name string
		run  func() error
	}{
		{"agent", in.agent.ensure},
		{"binary", in.syncBinaries},
		{"chain", in.syncChain},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			in.complete = false
			in.status.SetNotReady(err.Error())
			if !errors.Is(err, chain.ErrNoPrimary) {
				in.log.Error("install step failed", "step", s.name, "error", err.Error())
			}
			return
		}
	}
	if !in.complete {
		in.log.Info("mesh-cni is installed and its node agent serves; ready", "file", in.primary, "socket", in.agent.path, phase.Key, phase.Ready)
	}
	in.complete = true
	in.status.SetReady()
}

// entryRemoved says whether an event at path left the primary config
// complete and without our entry: its CNI rewrote it whole (most write a
// temporary file and rename it over), and each moment until the entry is
// back is one in which a pod gets no rules, so the sync must not wait for
// the burst to settle. A config that does not parse is being written; the
// settled sync reads it then.
func (in *Installer) entryRemoved(path string) bool {
	if in.primary == "" || filepath.Dir(path) != filepath.Clean(in.cfg.ConfDir) {
		return false
	}
	p, err := in.chain.FindPrimary()
	return err == nil && p.Path == in.primary && p.Doc.Count(entry.PluginType) == 0
}

func (in *Installer) syncBinaries() error {
	for _, dir := range in.cfg.BinDirs {
		if err := in.syncBinary(filepath.Join(dir, entry.PluginType)); err != nil {
			return err
		}
	}
	return in.beginJournal()
}

func (in *Installer) syncBinary(dst string) error {
	st, err := os.Stat(dst)
	if err == nil && in.binaries[dst] != nil && os.SameFile(st, in.binaries[dst]) &&
		st.ModTime().Equal(in.binaries[dst].ModTime()) && st.Size() == in.binaries[dst].Size() && st.Mode() == in.binaries[dst].Mode() {
		return nil
	}
	if err == nil && st.Mode().Perm() == 0o755 {
		digest, err := atomicfile.Digest(dst)
		if err != nil {
			return err
		}
		if digest == in.sourceDigest {
			if _, had := in.binaries[dst]; !had {
				in.log.Info("the plugin binary is already in place", "file", dst, phase.Key, phase.BinaryInstalled)
			}
			in.binaries[dst] = st
			return nil
		}
	}
	if err := atomicfile.Copy(in.cfg.PluginSource, dst, 0o755); err != nil {
		return err
	}
	if st, err = os.Stat(dst); err != nil {
		return fmt.Errorf("checking %s: %w", dst, err)
	}
	if _, had := in.binaries[dst]; had {
		in.status.Reinstalled("binary")
		in.log.Warn("the plugin binary was removed or replaced; copied it again", "file", dst, "source", in.cfg.PluginSource, phase.Key, phase.BinaryInstalled)
	} else {
		in.log.Info("copied the plugin binary", "file", dst, "source", in.cfg.PluginSource, phase.Key, phase.BinaryInstalled)
	}
	in.binaries[dst] = st
	return nil
}

func (in *Installer) syncChain() error {
	pluginEntry, err := in.settings.JSON(in.agent.path, in.cfg.RunDir)
	if err != nil {
		return err
	}
	res, err := in.chain.Install(pluginEntry)
	if errors.Is(err, chain.ErrNoPrimary) {
		if !in.waiting {
			in.log.Info("waiting for the primary CNI to write its config", "dir", in.cfg.ConfDir, "name", in.cfg.ConfName, "reason", err.Error())
			in.waiting = true
		}
		return fmt.Errorf("waiting for a primary CNI config in %s: %w", in.cfg.ConfDir, err)
	}
	if err != nil {
		return err
	}
	in.waiting = false
	if in.primary != "" && res.Path != in.primary {
		in.log.Info("the primary CNI config changed", "from", in.primary, "file", res.Path)
		if err := in.chain.RemoveFrom(in.primary); err != nil {
			in.log.Warn("could not remove our entry from the previous primary config", "file", in.primary, "error", err.Error())
		}
	}
	in.primary = res.Path
	if !in.chainDone && !res.Changed {
		in.log.Info("mesh-cni's entry is already in the CNI chain", "file", res.Path, phase.Key, phase.EntryInstalled)
	}
	if res.Added && in.chainDone {
		in.status.Reinstalled("chain")
		in.log.Warn("mesh-cni's entry was missing from the CNI chain; added it again", "file", res.Path, "plugins", strings.Join(res.Types, ","))
		if in.fights.record() {
			in.status.Fought()
			in.log.Warn("another component keeps removing mesh-cni from the CNI chain; pods started in the gaps have no traffic redirection",
				"file", res.Path, "removals", in.fights.count(), "window", in.cfg.FightWindow.String(),
				"likely_culprit", culprit(res.Path, res.Name, res.Types))
		}
	}
	in.chainDone = true
	return nil
}
