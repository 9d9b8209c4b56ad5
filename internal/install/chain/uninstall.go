package chain

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/install/atomicfile"
	"github.com/mesh-cni/mesh-cni/internal/install/cniconf"
	"github.com/mesh-cni/mesh-cni/internal/install/entry"
)

// Uninstall removes our entry from every configuration in the directory
// (the primary may have moved since we installed) and restores a converted
// single-plugin file.
func (c *Chain) Uninstall() error {
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.Dir, err)
	}
	var errs []error
	for _, e := range entries {
		if _, ok := cniconf.KindOf(e.Name()); !ok || strings.HasPrefix(e.Name(), atomicfile.TempPrefix) {
			continue
		}
		if err := c.RemoveFrom(filepath.Join(c.Dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("uninstalling from %s: %v", c.Dir, errs)
	}
	return nil
}

// RemoveFrom takes our entry out of the file at path. When path is a list
// we converted and nobody has changed it since, the original file comes
// back exactly; otherwise only our plugin objects are cut out.
func (c *Chain) RemoveFrom(path string) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	st, err := loadState(c.StatePath)
	if err != nil {
		c.Log.Warn("ignoring unreadable install state", "file", c.StatePath, "error", err.Error())
	}
	if st != nil && st.List == path {
		if err := clearState(c.StatePath); err != nil {
			return err
		}
		if digest(data) == st.Written {
			return c.restore(st)
		}
	}
	kind, _ := cniconf.KindOf(path)
	doc, err := cniconf.Parse(data, kind)
	if err != nil || doc.Count(entry.PluginType) == 0 {
		return nil
	}
	st2, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	out, n, err := doc.Without(entry.PluginType)
	if err != nil {
		// A list of nothing but our plugin is nobody else's configuration.
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("removing %s: %w", path, err)
		}
		c.Log.Info("removed a CNI config holding only mesh-cni", "file", path)
		return nil
	}
	if err := atomicfile.Write(path, out, st2.Mode().Perm()); err != nil {
		return err
	}
	c.Log.Info("removed mesh-cni from the CNI chain", "file", path, "entries", n)
	return nil
}

func (c *Chain) restore(st *state) error {
	if _, err := os.Stat(st.Conf); os.IsNotExist(err) {
		if err := atomicfile.Write(st.Conf, st.Original, os.FileMode(st.Mode)); err != nil {
			return err
		}
	} else {
		// The primary CNI wrote its file again meanwhile: that one is
		// newer than our copy.
		c.Log.Info("original CNI config already back; keeping it", "file", st.Conf)
	}
	if err := os.Remove(st.List); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing %s: %w", st.List, err)
	}
	c.Log.Info("restored the original CNI config", "file", st.Conf, "removed", st.List)
	return nil
}
