package cniconf

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/containernetworking/cni/libcni"
)

// loaderView is a file as the container runtime reads it: containerd's
// go-cni and CRI-O's ocicni load it with libcni.
type loaderView struct {
	// types are the plugin types the runtime would run, in order.
	types []string
	// name and version are a single plugin's network name and cniVersion,
	// which the runtime makes its list's.
	name, version string
}

// viewAsLoader loads data with libcni, as the runtime would, so that a
// file the runtime refuses is never taken for the primary, and a plugin's
// type is the one the runtime runs: encoding/json matches "type" in any
// case of letters, and libcni decodes each plugin of a list again from a
// map, so "Type" and "type" in one object resolve as libcni resolves them.
func viewAsLoader(data []byte, kind Kind) (loaderView, error) {
	var list *libcni.NetworkConfigList
	var v loaderView
	var err error
	if kind == List {
		list, err = libcni.ConfListFromBytes(data)
	} else {
		var conf *libcni.PluginConfig
		if conf, err = libcni.ConfFromBytes(data); err == nil {
			v.name, v.version = conf.Network.Name, conf.Network.CNIVersion
			list, err = libcni.ConfListFromConf(conf)
		}
	}
	if err != nil {
		return v, fmt.Errorf("the CNI loader (libcni) refuses it: %w", err)
	}
	for _, p := range list.Plugins {
		v.types = append(v.types, p.Network.Type)
	}
	return v, nil
}

// jsonString encodes s as a JSON string, leaving <, > and & as they are.
func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// A string always encodes.
	_ = enc.Encode(s)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
