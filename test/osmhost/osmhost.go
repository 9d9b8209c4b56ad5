// Package osmhost runs OSM v1.2.4's real injector (built by
// test/tools/build.sh) on this machine beside test/cluster's node, as the
// e2e suite and `make demo` use it: OSM's CRDs and a MeshConfig applied, a
// placeholder pod for the injector to name in its certificates, and an
// ExternalName Service through which the API server reaches its webhook on
// the host's port 9090.
package osmhost

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// OSM's names, as its injector and chart use them (osm-injection.md).
const (
	// MeshName is the mesh's name: namespaces labelled
	// openservicemesh.io/monitored-by=MeshName are injected.
	MeshName = "osm"
	// Namespace is OSM's own namespace: the MeshConfig and the injector's
	// placeholder pod and Service.
	Namespace = "osm-system"
	// WebhookConfig is the MutatingWebhookConfiguration the injector writes.
	WebhookConfig = "osm-webhook-osm"
	// processName names the host process (test/cluster.HostProcess).
	processName = "osm-injector"
	healthz     = "http://127.0.0.1:9091/healthz"
)

// Injector is OSM's injector running as a host process.
type Injector struct {
	proc    *cluster.HostProcess
	kubectl cluster.KubectlFunc
}

// Options say how Start sets OSM up and runs its injector.
type Options struct {
	// Kubeconfig is the injector's (an admin's) kubeconfig.
	Kubeconfig string
	// OSMDir is test/tools/build.sh's OSM build (cluster.Binaries.OSMDir).
	OSMDir string
	// AppImage is the sidecar's image, and the placeholder pod's.
	AppImage string
	// InitImage is osm-init's image; AppImage when empty.
	InitImage string
	// Traffic are spec.traffic additions to the MeshConfig, as YAML lines
	// indented by four.
	Traffic string
	// Outlive: the injector survives the caller; TearDownNode stops it
	// either way.
	Outlive bool
}

// meshConfig is the MeshConfig Start applies.
func (o Options) meshConfig() string {
	initImage := o.InitImage
	if initImage == "" {
		initImage = o.AppImage
	}
	return MeshConfig(o.AppImage, initImage, o.Traffic)
}

// Start applies what the injector needs (Prepare), starts it here and
// waits until it serves and has written its webhook configuration.
func Start(kubectl cluster.KubectlFunc, o Options) (*Injector, error) {
	if err := Prepare(kubectl, o); err != nil {
		return nil, err
	}
	env, argv := Command(o, filepath.Join(o.OSMDir, "osm-injector"), o.Kubeconfig)
	proc, err := cluster.StartHostProcess(processName, o.Outlive, env, argv...)
	if err != nil {
		return nil, err
	}
	inj := &Injector{proc: proc, kubectl: kubectl}
	if err := inj.wait(90 * time.Second); err != nil {
		_ = inj.Stop()
		return nil, err
	}
	return inj, nil
}

// Prepare applies OSM's CRDs (from OSMDir/crds), its namespace, the
// placeholder pod and Service and the MeshConfig: what the injector needs
// of the cluster wherever it runs.
func Prepare(kubectl cluster.KubectlFunc, o Options) error {
	if _, err := kubectl(nil, "apply", "-f", filepath.Join(o.OSMDir, "crds")); err != nil {
		return err
	}
	if _, err := kubectl([]byte(setupManifests(o.AppImage)), "apply", "-f", "-"); err != nil {
		return err
	}
	_, err := kubectl([]byte(o.meshConfig()), "apply", "-f", "-")
	return err
}

// Command is the injector's environment and command line: the binary at
// binary, reaching the API server with kubeconfig. Start runs it on this
// machine; on a cluster the suite did not start it runs on the node, where
// the API server finds it at localhost as well.
func Command(o Options, binary, kubeconfig string) (env, argv []string) {
	return []string{"INJECTOR_POD_NAME=osm-injector", "OSM_DEFAULT_HEALTHCHECK_CONTAINER_IMAGE=" + o.AppImage},
		[]string{binary, "--kubeconfig", kubeconfig,
			"--mesh-name", MeshName, "--osm-namespace", Namespace, "--webhook-config-name", WebhookConfig,
			"--ca-bundle-secret-name", "osm-ca-bundle", "--certificate-manager", "tresor", "--osm-version", "v1.2.4"}
}

// Running returns the injector an earlier Start left running, if it still
// serves.
func Running(kubectl cluster.KubectlFunc) (*Injector, bool) {
	proc, ok := cluster.RunningHostProcess(processName)
	if !ok {
		return nil, false
	}
	inj := &Injector{proc: proc, kubectl: kubectl}
	return inj, inj.serving() == nil
}

// Pid is the injector's process id.
func (inj *Injector) Pid() int { return inj.proc.Pid() }

// LogTail is the last n lines of the injector's log.
func (inj *Injector) LogTail(n int) string { return inj.proc.LogTail(n) }

// Stop removes OSM's webhook configuration (failurePolicy Fail, and the
// injector never removes it: pods could not be created without its
// server) and then stops the injector.
func (inj *Injector) Stop() error {
	_, werr := inj.kubectl(nil, "delete", "mutatingwebhookconfiguration", WebhookConfig, "--ignore-not-found")
	if err := inj.proc.Stop(); err != nil {
		return err
	}
	return werr
}

// serving says why the injector is not serving yet, or nil.
func (inj *Injector) serving() error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(healthz)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", healthz, resp.Status)
	}
	_, err = inj.kubectl(nil, "get", "mutatingwebhookconfiguration", WebhookConfig)
	return err
}

func (inj *Injector) wait(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := inj.serving()
		if err == nil {
			return nil
		}
		if inj.proc.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("osm-injector not serving (%v); its log:\n%s", err, inj.LogTail(40))
		}
		time.Sleep(time.Second)
	}
}
