// Package config is the installer's configuration: every setting is a
// flag with an environment variable of the same meaning, so the DaemonSet
// can set them from a ConfigMap or its env list and people from the shell.
package config

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Config holds the installer's settings.
type Config struct {
	PluginSource      string
	BinDirs           []string
	ConfDir           string
	ConfName          string
	RunDir            string
	PluginConfig      string
	ServiceAccountDir string
	KubeHost          string
	KubePort          string
	NodeName          string
	ListenAddress     string
	SkipCleanup       bool
	SkipCleanupFile   string
	FightThreshold    int
	FightWindow       time.Duration
	Resync            time.Duration
	LogLevel          string
	LogFormat         string
	// Repair is what the node agent does with this node's pods whose
	// validation container found no rules: delete, label or off.
	Repair         string
	RepairInterval time.Duration
}

// setting describes one flag and its environment variable.
type setting struct {
	flag, env, def, usage string
	set                   func(string) error
}

func (c *Config) settings() []setting {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	return []setting{
		{"plugin-source", "MESH_CNI_PLUGIN_SOURCE", "/mesh-cni", "the plugin binary to install (in the installer's image)", str(&c.PluginSource)},
		{"cni-bin-dirs", "MESH_CNI_BIN_DIRS", "/host/opt/cni/bin", "comma-separated host CNI bin dirs, as mounted, to copy the plugin into (GKE: /home/kubernetes/bin)", func(v string) error {
			c.BinDirs = splitList(v)
			return nil
		}},
		{"cni-conf-dir", "MESH_CNI_CONF_DIR", "/host/etc/cni/net.d", "the host CNI config dir, as mounted", str(&c.ConfDir)},
		{"cni-conf-name", "CNI_CONF_NAME", "", "the primary CNI config file name; empty: the first valid *.conf/*.conflist/*.json in lexical order", str(&c.ConfName)},
		{"run-dir", "MESH_CNI_RUN_DIR", "/var/run/mesh-cni", "mesh-cni's host dir for the node agent's socket (agent.sock) and the install state; must be mounted at the same path as on the host, since the plugin dials the socket there", str(&c.RunDir)},
		{"plugin-config", "MESH_CNI_PLUGIN_CONFIG", "", "JSON file of plugin settings (meshNamespace, meshConfigName, profile, excludeNamespaces, sidecarContainerNames, logLevel, apiTimeout), e.g. the ConfigMap key plugin.json; empty: the plugin's defaults", str(&c.PluginConfig)},
		{"service-account-dir", "MESH_CNI_SERVICE_ACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount", "where the pod's service account token and ca.crt are; watched for token rotation", str(&c.ServiceAccountDir)},
		{"kubernetes-service-host", "KUBERNETES_SERVICE_HOST", "", "API server address the node agent reads from (set by Kubernetes in every pod)", str(&c.KubeHost)},
		{"kubernetes-service-port", "KUBERNETES_SERVICE_PORT", "", "API server port the node agent reads from (set by Kubernetes in every pod)", str(&c.KubePort)},
		{"node-name", "MESH_CNI_NODE_NAME", "", "this node's name (required; the DaemonSet sets it from spec.nodeName): the node agent watches only the pods scheduled here", str(&c.NodeName)},
		{"listen-address", "MESH_CNI_LISTEN_ADDRESS", "127.0.0.1:9890", "address of /healthz, /readyz and /metrics", str(&c.ListenAddress)},
		{"skip-cleanup", "MESH_CNI_SKIP_CLEANUP", "false", "on SIGTERM leave the binary and the chain entry in place; set during rolling upgrades so no pod starts unprotected between the old and the new installer (the node agent still stops: until the new installer serves, pods outside the excluded namespaces fail with \"try again later\" and the runtime retries them)", boolVar(&c.SkipCleanup)},
		{"skip-cleanup-file", "MESH_CNI_SKIP_CLEANUP_FILE", "", "a file read at SIGTERM time; \"true\" in it acts as --skip-cleanup (a mounted ConfigMap key, which kubelet updates in running pods)", str(&c.SkipCleanupFile)},
		{"fight-threshold", "MESH_CNI_FIGHT_THRESHOLD", "5", "warn when the chain entry had to be re-added more than this many times within --fight-window", intVar(&c.FightThreshold)},
		{"fight-window", "MESH_CNI_FIGHT_WINDOW", "60s", "see --fight-threshold", durVar(&c.FightWindow)},
		{"resync-interval", "MESH_CNI_RESYNC_INTERVAL", "30s", "check everything this often even without file events", durVar(&c.Resync)},
		{"repair", "MESH_CNI_REPAIR", "delete", "what to do with this node's pods whose mesh-cni-validation init container exited 42 (no rules: the sandbox was made while mesh-cni was not in the chain), while the install is complete: delete (with preconditions and a Warning event, so their controller makes them again; pods without a controller are labelled instead), label (mesh-cni.io/uninitialized=true and an event) or off", str(&c.Repair)},
		{"repair-interval", "MESH_CNI_REPAIR_INTERVAL", "10s", "how often this node's pods are checked for failed validation", durVar(&c.RepairInterval)},
		{"log-level", "MESH_CNI_LOG_LEVEL", "info", "debug, info, warn or error", str(&c.LogLevel)},
		{"log-format", "MESH_CNI_LOG_FORMAT", "json", "json or text", str(&c.LogFormat)},
	}
}

// Parse reads the environment (through getenv) and then the flags in
// args: a flag wins over its variable, which wins over the default.
func Parse(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("installer", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	all := c.settings()
	for _, s := range all {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		if err := s.set(def); err != nil {
			return c, fmt.Errorf("%s=%q: %w", s.env, def, err)
		}
		help := fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def)
		if s.def == "true" || s.def == "false" {
			fs.BoolFunc(s.flag, help, s.set)
		} else {
			fs.Func(s.flag, help, s.set)
		}
	}
	fs.Usage = func() { usage(usageOut, fs) }
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c, c.validate()
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: installer [flags]

Runs in mesh-cni's DaemonSet: copies the mesh-cni plugin into the host's CNI
bin dirs, serves the plugin as the node agent on <run-dir>/agent.sock (reading
the API with the pod's own service account), adds the plugin as the last
plugin of the node's primary CNI config, keeps all of it in place and removes
it on SIGTERM (unless --skip-cleanup). Every flag can also be set by the
environment variable named with it; a flag wins over its variable.

Flags:
`)
	fs.PrintDefaults()
}

func (c Config) validate() error {
	if len(c.BinDirs) == 0 {
		return fmt.Errorf("--cni-bin-dirs is empty")
	}
	if c.ConfDir == "" || c.RunDir == "" || c.PluginSource == "" {
		return fmt.Errorf("--cni-conf-dir, --run-dir and --plugin-source must be set")
	}
	if c.NodeName == "" {
		return fmt.Errorf("--node-name (MESH_CNI_NODE_NAME) must be set: the node agent serves this node's pods; the DaemonSet sets it from the pod's spec.nodeName")
	}
	if strings.Contains(c.ConfName, "/") {
		return fmt.Errorf("--cni-conf-name %q: a file name in --cni-conf-dir, not a path", c.ConfName)
	}
	if c.FightThreshold < 1 || c.FightWindow <= 0 || c.Resync <= 0 {
		return fmt.Errorf("--fight-threshold, --fight-window and --resync-interval must be positive")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("--log-format %q: want json or text", c.LogFormat)
	}
	if c.Repair != "delete" && c.Repair != "label" && c.Repair != "off" {
		return fmt.Errorf("--repair %q: want delete, label or off", c.Repair)
	}
	if c.RepairInterval <= 0 {
		return fmt.Errorf("--repair-interval must be positive")
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func boolVar(p *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		*p = b
		return err
	}
}

func intVar(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		*p = n
		return err
	}
}

func durVar(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		*p = d
		return err
	}
}
