// Package cniconf reads and edits CNI network configuration files at the
// token level: the plugins we do not own keep their exact bytes (field
// order, unknown fields, white space), because other agents compare, hash
// or re-parse them and must not see a change they did not make.
package cniconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
)

// Kind says how a CNI loader reads a file: one plugin, or a list.
type Kind int

const (
	// Single is a file holding one plugin object (.conf, .json).
	Single Kind = iota
	// List is a network configuration list (.conflist).
	List
)

// KindOf returns how CNI loaders (libcni, as used by containerd and
// CRI-O) read the file named name, and false when they ignore it.
func KindOf(name string) (Kind, bool) {
	switch filepath.Ext(name) {
	case ".conflist":
		return List, true
	case ".conf", ".json":
		return Single, true
	}
	return Single, false
}

// Doc is a parsed, valid CNI configuration file.
type Doc struct {
	kind    Kind
	data    []byte
	root    span
	members []member
	plugins span   // the "plugins" array; List only
	elems   []span // the plugin objects, in order
	// loader is the file as the runtime reads it; its types are the
	// plugins' types, in the order of elems.
	loader loaderView
}

// Parse checks data the way a CNI loader would (valid JSON, an object, a
// "type" for a single plugin; a "name" and a non-empty "plugins" list of
// typed objects for a list; and then libcni, which the runtimes load
// files with, must load it) and indexes it for editing.
func Parse(data []byte, kind Kind) (*Doc, error) {
	if !json.Valid(data) {
		return nil, errors.New("not valid JSON")
	}
	start := skipSpace(data, 0)
	end, err := valueEnd(data, start)
	if err != nil {
		return nil, err
	}
	d := &Doc{kind: kind, data: data, root: span{start, end}}
	if data[start] != '{' {
		return nil, errors.New("not a JSON object")
	}
	if d.members, err = objectMembers(data, d.root); err != nil {
		return nil, err
	}
	if kind == Single {
		return d, d.index([]span{d.root})
	}
	if _, ok := stringValue(data, d.root, "name"); !ok {
		return nil, errors.New(`no "name" string`)
	}
	p, ok := lookup(d.members, "plugins")
	if !ok || data[p.start] != '[' {
		return nil, errors.New(`no "plugins" list`)
	}
	d.plugins = p
	elems, err := arrayElements(data, p)
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return nil, errors.New(`empty "plugins" list`)
	}
	return d, d.index(elems)
}

func (d *Doc) index(elems []span) error {
	for i, e := range elems {
		if d.data[e.start] != '{' {
			return fmt.Errorf("plugin %d is not an object", i)
		}
	}
	v, err := viewAsLoader(d.data, d.kind)
	if err != nil {
		return err
	}
	if len(v.types) != len(elems) {
		return fmt.Errorf("libcni reads %d plugins where mesh-cni reads %d", len(v.types), len(elems))
	}
	d.elems, d.loader = elems, v
	return nil
}

// Kind returns the kind the document was parsed as.
func (d *Doc) Kind() Kind { return d.kind }

// Types returns the plugin types in chain order.
func (d *Doc) Types() []string { return append([]string(nil), d.loader.types...) }

// Count returns how many plugins of type t the chain holds.
func (d *Doc) Count(t string) int {
	n := 0
	for _, x := range d.loader.types {
		if x == t {
			n++
		}
	}
	return n
}

// Name returns the network name, if the document has one.
func (d *Doc) Name() string {
	n, _ := stringValue(d.data, d.root, "name")
	return n
}

// WithEntry returns the list with every plugin of type pluginType removed
// and entry (one JSON object) appended as the last plugin. Adding to a
// document that already ends with the same entry returns it unchanged, and
// Without undoes WithEntry byte for byte.
func (d *Doc) WithEntry(pluginType string, entry []byte) ([]byte, error) {
	if d.kind != List {
		return nil, errors.New("WithEntry needs a plugin list; convert with ToList")
	}
	stripped, _, err := d.Without(pluginType)
	if err != nil {
		return nil, err
	}
	s, err := Parse(stripped, List)
	if err != nil {
		return nil, fmt.Errorf("after removing old entries: %w", err)
	}
	return s.appendPlugin(entry)
}

// Without returns the list with every plugin of type pluginType removed,
// and how many were.
func (d *Doc) Without(pluginType string) ([]byte, int, error) {
	if d.kind != List {
		return d.data, 0, nil
	}
	cur, removed := d, 0
	for {
		k := -1
		for i, t := range cur.loader.types {
			if t == pluginType {
				k = i
				break
			}
		}
		if k < 0 {
			return cur.data, removed, nil
		}
		if len(cur.elems) == 1 {
			// Keep the list loadable: a chain of nothing but us is not a
			// configuration we can reduce to anything meaningful.
			return nil, removed, errors.New("the list holds only our plugin")
		}
		next, err := Parse(cur.removeElem(k), List)
		if err != nil {
			return nil, removed, fmt.Errorf("after removing plugin %d: %w", k, err)
		}
		cur, removed = next, removed+1
	}
}

// removeElem cuts plugin k together with the separator that joins it to
// its predecessor (or, for the first, to its successor), so that it is the
// exact inverse of appendPlugin.
func (d *Doc) removeElem(k int) []byte {
	var from, to int
	if k > 0 {
		from, to = d.elems[k-1].end, d.elems[k].end
	} else {
		from, to = d.elems[0].start, d.elems[1].start
	}
	out := make([]byte, 0, len(d.data)-(to-from))
	out = append(out, d.data[:from]...)
	return append(out, d.data[to:]...)
}

func (d *Doc) appendPlugin(entry []byte) ([]byte, error) {
	n := len(d.elems)
	sepStart := d.plugins.start + 1
	if n >= 2 {
		sepStart = bytes.IndexByte(d.data[d.elems[n-2].end:], ',') + d.elems[n-2].end + 1
	}
	sep := d.data[sepStart:d.elems[n-1].start]
	rendered, err := render(entry, sep)
	if err != nil {
		return nil, err
	}
	at := d.elems[n-1].end
	out := make([]byte, 0, len(d.data)+len(sep)+len(rendered)+1)
	out = append(out, d.data[:at]...)
	out = append(out, ',')
	out = append(out, sep...)
	out = append(out, rendered...)
	return append(out, d.data[at:]...), nil
}

// render formats entry to sit after sep: indented like its neighbours when
// the list is one plugin a line, compact when the file is compact.
func render(entry, sep []byte) ([]byte, error) {
	var buf bytes.Buffer
	nl := bytes.LastIndexByte(sep, '\n')
	if nl < 0 {
		if err := json.Compact(&buf, entry); err != nil {
			return nil, fmt.Errorf("compacting our entry: %w", err)
		}
		return buf.Bytes(), nil
	}
	indent := string(sep[nl+1:])
	unit := "  "
	if bytes.IndexByte(sep[nl+1:], '\t') >= 0 {
		unit = "\t"
	}
	if err := json.Indent(&buf, entry, indent, unit); err != nil {
		return nil, fmt.Errorf("indenting our entry: %w", err)
	}
	return buf.Bytes(), nil
}

// ToList turns a single-plugin document into a list whose first plugin is
// the original object byte for byte and whose last is entry. The network
// name and cniVersion the runtime reads from the plugin (libcni's, whose
// keys match in any case of letters) become the list's; fallbackName is
// used when the file has no name.
func (d *Doc) ToList(fallbackName string, entry []byte) ([]byte, error) {
	if d.kind != Single {
		return nil, errors.New("ToList needs a single-plugin document")
	}
	var buf bytes.Buffer
	buf.WriteString("{\n")
	if d.loader.version != "" {
		fmt.Fprintf(&buf, "  \"cniVersion\": %s,\n", jsonString(d.loader.version))
	}
	name := d.loader.name
	if name == "" {
		name = fallbackName
	}
	fmt.Fprintf(&buf, "  \"name\": %s,\n", jsonString(name))
	sep := "\n    "
	rendered, err := render(entry, []byte(sep))
	if err != nil {
		return nil, err
	}
	buf.WriteString("  \"plugins\": [" + sep)
	buf.Write(d.data[d.root.start:d.root.end])
	buf.WriteString("," + sep)
	buf.Write(rendered)
	buf.WriteString("\n  ]\n}\n")
	return buf.Bytes(), nil
}
