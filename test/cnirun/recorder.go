package cnirun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Call is one plugin execution libcni asked for.
type Call struct {
	// Plugin is the program's base name: "bridge", "mesh-cni".
	Plugin string
	// Command is CNI_COMMAND: ADD, DEL, CHECK, ...
	Command string
	// ContainerID is CNI_CONTAINERID.
	ContainerID string
	// Took is the wall time from fork to exit.
	Took time.Duration
	// MaxRSS is the peak resident set size, in bytes, of the plugin or of
	// a program it ran and waited for, whichever was largest (wait4's
	// rusage covers the reaped descendants).
	MaxRSS int64
	// CPU is the user and system time of the plugin and the programs it
	// ran and waited for.
	CPU time.Duration
	// Stderr is what the plugin logged.
	Stderr string
	// Err is the plugin's failure, decoded as libcni decodes it.
	Err error
}

// Recorder is an invoke.Exec that runs plugins as libcni's RawExec does
// and remembers how long each took and how much memory it used, so a
// caller of libcni can see one plugin's share of a chain.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

var _ invoke.Exec = (*Recorder)(nil)

// ExecPlugin runs the plugin and records the call.
func (r *Recorder) ExecPlugin(ctx context.Context, pluginPath string, stdinData []byte, environ []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pluginPath)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = environ, bytes.NewReader(stdinData), &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	c := Call{Plugin: filepath.Base(pluginPath), Command: envValue(environ, "CNI_COMMAND"),
		ContainerID: envValue(environ, "CNI_CONTAINERID"), Took: time.Since(start), Stderr: stderr.String()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			c.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
			c.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		c.Err = pluginError(err, stdout.Bytes(), stderr.Bytes())
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	if c.Err != nil {
		return nil, c.Err
	}
	return stdout.Bytes(), nil
}

// FindInPath finds a plugin as libcni does.
func (r *Recorder) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

// Decode reads a VERSION answer as libcni does.
func (r *Recorder) Decode(jsonBytes []byte) (version.PluginInfo, error) {
	return (&version.PluginDecoder{}).Decode(jsonBytes)
}

// Take returns the calls recorded since the last Take and forgets them.
func (r *Recorder) Take() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// Find returns the recorded call of plugin for command and container, the
// last one when there are several.
func Find(calls []Call, plugin, command, containerID string) (Call, bool) {
	for i := len(calls) - 1; i >= 0; i-- {
		c := calls[i]
		if c.Plugin == plugin && c.Command == command && c.ContainerID == containerID {
			return c, true
		}
	}
	return Call{}, false
}

func envValue(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// pluginError decodes a failed plugin's answer the way libcni's RawExec
// does: the CNI error on stdout, else its stderr.
func pluginError(err error, stdout, stderr []byte) error {
	e := &types.Error{}
	switch {
	case len(stdout) > 0:
		if jerr := json.Unmarshal(stdout, e); jerr != nil {
			e.Msg = fmt.Sprintf("plugin failed (%v) and its answer is not a CNI error: %q", err, stdout)
		}
	case len(stderr) > 0:
		e.Msg = fmt.Sprintf("plugin failed: %v: %q", err, stderr)
	default:
		e.Msg = fmt.Sprintf("plugin failed with no message: %v", err)
	}
	return e
}
