// Package chain puts mesh-cni's entry into the node's primary CNI
// configuration and takes it out again, leaving that file as it found it.
package chain

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/install/atomicfile"
	"github.com/mesh-cni/mesh-cni/internal/install/cniconf"
	"github.com/mesh-cni/mesh-cni/internal/install/entry"
	"github.com/mesh-cni/mesh-cni/internal/install/phase"
)

// ErrNoPrimary means the directory holds no configuration the runtime
// would use yet (the primary CNI has not written its file).
var ErrNoPrimary = errors.New("no primary CNI configuration yet")

// Chain edits one CNI configuration directory.
type Chain struct {
	// Dir is the CNI configuration directory (net.d).
	Dir string
	// ConfName, when set, names the primary file instead of taking the
	// first valid one (CNI_CONF_NAME).
	ConfName string
	// StatePath is where the original bytes of a converted .conf are kept,
	// outside Dir, so that uninstalling can restore it exactly.
	StatePath string
	// Log receives one line per change.
	Log *slog.Logger
}

// Primary is the configuration file the container runtime uses.
type Primary struct {
	Path string
	Doc  *cniconf.Doc
	Data []byte
	Mode os.FileMode
	// Shadows are the files holding only mesh-cni that sort before Path:
	// the runtime loads the first of them instead, and fails every pod.
	Shadows []string
}

// Result says what Install did.
type Result struct {
	// Path is the file that now holds our entry.
	Path string
	// Types are the plugin types of that file, ours last.
	Types []string
	// Name is the network name.
	Name string
	// Added is true when our entry was not in the primary configuration
	// before (a first install, or someone removed it).
	Added bool
	// Changed is true when a file was written.
	Changed bool
}

// FindPrimary returns the file the runtime loads: the first valid
// configuration in lexical order (libcni's order), or the one named by
// ConfName. Invalid files and files holding only our plugin are skipped;
// with no primary, the error names each file skipped and why.
func (c *Chain) FindPrimary() (*Primary, error) {
	names, err := c.candidates()
	if err != nil {
		return nil, err
	}
	var skipped, shadows []string
	for _, name := range names {
		path := filepath.Join(c.Dir, name)
		p, err := c.load(path)
		if err != nil {
			c.Log.Debug("skipping CNI config", "file", path, "reason", err.Error())
			skipped = append(skipped, err.Error())
			continue
		}
		if p.Doc.Count(entry.PluginType) == len(p.Doc.Types()) {
			skipped = append(skipped, path+" holds only mesh-cni")
			shadows = append(shadows, path)
			continue
		}
		p.Shadows = shadows
		return p, nil
	}
	if len(skipped) == 0 {
		return nil, ErrNoPrimary
	}
	return nil, fmt.Errorf("%w (skipped %s)", ErrNoPrimary, strings.Join(skipped, "; "))
}

func (c *Chain) candidates() ([]string, error) {
	if c.ConfName != "" {
		names := []string{c.ConfName}
		if k, _ := cniconf.KindOf(c.ConfName); k == cniconf.Single {
			// After we converted the named .conf, its .conflist is it.
			names = append(names, stem(c.ConfName)+".conflist")
		}
		return names, nil
	}
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", c.Dir, err)
	}
	var names []string
	for _, e := range entries {
		if _, ok := cniconf.KindOf(e.Name()); ok && !strings.HasPrefix(e.Name(), atomicfile.TempPrefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (c *Chain) load(path string) (*Primary, error) {
	kind, ok := cniconf.KindOf(path)
	if !ok {
		return nil, fmt.Errorf("%s is not a CNI config name", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	doc, err := cniconf.Parse(data, kind)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Primary{Path: path, Doc: doc, Data: data, Mode: st.Mode().Perm()}, nil
}

// Install adds pluginEntry as the last plugin of the primary configuration,
// replacing any entry of ours already there. A single-plugin file becomes
// a .conflist of the same stem and the original is removed, so it cannot
// shadow the list (it would sort first).
//
// Files holding only our plugin that sort before the primary go last: until
// our entry is in, the runtime loads such a file, which fails every pod,
// rather than the primary without us.
func (c *Chain) Install(pluginEntry []byte) (Result, error) {
	p, err := c.FindPrimary()
	if err != nil {
		return Result{}, err
	}
	var res Result
	if p.Doc.Kind() == cniconf.Single {
		res, err = c.convert(p, pluginEntry)
	} else {
		res, err = c.addTo(p, pluginEntry)
	}
	if err != nil {
		return res, err
	}
	for _, path := range p.Shadows {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return res, fmt.Errorf("removing %s: %w", path, err)
		}
		res.Changed = true
		c.Log.Warn("removed a CNI config holding only mesh-cni, which the runtime loaded instead of the primary", "file", path, "primary", res.Path)
	}
	return res, nil
}

func (c *Chain) addTo(p *Primary, pluginEntry []byte) (Result, error) {
	res := Result{Path: p.Path, Added: p.Doc.Count(entry.PluginType) == 0}
	out, err := p.Doc.WithEntry(entry.PluginType, pluginEntry)
	if err != nil {
		return res, fmt.Errorf("adding our entry to %s: %w", p.Path, err)
	}
	if res.Types, res.Name, err = describe(out); err != nil {
		return res, fmt.Errorf("checking the new %s: %w", p.Path, err)
	}
	if bytes.Equal(out, p.Data) {
		return res, nil
	}
	if err := atomicfile.Write(p.Path, out, p.Mode); err != nil {
		return res, err
	}
	res.Changed = true
	c.Log.Info("added mesh-cni to the CNI chain", "file", p.Path, "plugins", strings.Join(res.Types, ","), phase.Key, phase.EntryInstalled)
	return res, nil
}

func (c *Chain) convert(p *Primary, pluginEntry []byte) (Result, error) {
	target := filepath.Join(c.Dir, stem(filepath.Base(p.Path))+".conflist")
	if err := c.checkOverwrite(target); err != nil {
		return Result{}, err
	}
	out, err := p.Doc.ToList(stem(filepath.Base(p.Path)), pluginEntry)
	if err != nil {
		return Result{}, fmt.Errorf("converting %s: %w", p.Path, err)
	}
	res := Result{Path: target, Added: true, Changed: true}
	if res.Types, res.Name, err = describe(out); err != nil {
		return res, fmt.Errorf("checking the new %s: %w", target, err)
	}
	// State first: if we are killed after it, the next run finds the .conf
	// again (it sorts before the .conflist) and converts it again.
	st := state{List: target, Conf: p.Path, Original: p.Data, Mode: uint32(p.Mode), Written: digest(out)}
	if err := saveState(c.StatePath, st); err != nil {
		return res, err
	}
	if err := atomicfile.Write(target, out, p.Mode); err != nil {
		return res, err
	}
	if err := os.Remove(p.Path); err != nil && !os.IsNotExist(err) {
		return res, fmt.Errorf("removing %s: %w", p.Path, err)
	}
	c.Log.Info("converted CNI config to a list with mesh-cni last", "from", p.Path, "file", target, "plugins", strings.Join(res.Types, ","), phase.Key, phase.EntryInstalled)
	return res, nil
}

// checkOverwrite refuses to replace a .conflist someone else owns.
func (c *Chain) checkOverwrite(target string) error {
	data, err := os.ReadFile(target)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", target, err)
	}
	if doc, err := cniconf.Parse(data, cniconf.List); err == nil && doc.Count(entry.PluginType) > 0 {
		return nil
	}
	if st, err := loadState(c.StatePath); err == nil && st != nil && st.List == target {
		return nil
	}
	return fmt.Errorf("converting to %s: that file exists and is not ours; refusing to overwrite it", target)
}

func describe(data []byte) ([]string, string, error) {
	doc, err := cniconf.Parse(data, cniconf.List)
	if err != nil {
		return nil, "", err
	}
	if n := doc.Count(entry.PluginType); n != 1 {
		return nil, "", fmt.Errorf("%d entries of ours, want 1", n)
	}
	return doc.Types(), doc.Name(), nil
}

func stem(name string) string { return strings.TrimSuffix(name, filepath.Ext(name)) }
