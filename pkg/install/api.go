package install

import (
	"bytes"
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/mesh-cni/mesh-cni/pkg/agent/server"
	"github.com/mesh-cni/mesh-cni/pkg/install/serviceaccount"
	"github.com/mesh-cni/mesh-cni/pkg/kube"
	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
)

// nodeAPI is the node agent's access to the API server, with the pod's own
// service account. It is the agent's Reader, asking the API on every
// request, and its EventWriter. kubelet rotates the projected token while
// we run; refresh picks the new one up.
type nodeAPI struct {
	src    serviceaccount.Source
	log    *slog.Logger
	client atomic.Pointer[kube.Client]

	// The credentials in use, and the last failure to read new ones
	// (logged once); only the sync loop touches these.
	token   string
	ca      []byte
	readErr string
}

// newNodeAPI reads the credentials; without them the agent could answer
// nothing, so the installer does not start.
func newNodeAPI(src serviceaccount.Source, log *slog.Logger) (*nodeAPI, error) {
	a := &nodeAPI{src: src, log: log}
	if err := a.load(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *nodeAPI) load() error {
	cfg, err := a.src.Config()
	if err != nil {
		return err
	}
	ca, err := a.src.CA()
	if err != nil {
		return err
	}
	if old := a.client.Swap(kube.NewClient(cfg)); old != nil {
		old.Close()
	}
	a.token, a.ca = cfg.Token, ca
	return nil
}

// refresh switches to rotated credentials. A failed read keeps the ones in
// use: they stay valid for a while after kubelet writes new ones.
func (a *nodeAPI) refresh() {
	tok, err := a.src.Token()
	var ca []byte
	if err == nil {
		ca, err = a.src.CA()
	}
	if err == nil && tok == a.token && bytes.Equal(ca, a.ca) {
		a.readErr = ""
		return
	}
	if err == nil {
		err = a.load()
	}
	if err != nil {
		if err.Error() != a.readErr {
			a.log.Warn("cannot read the service account credentials; the node agent keeps the ones it has", "error", err.Error())
		}
		a.readErr = err.Error()
		return
	}
	a.readErr = ""
	a.log.Info("the service account credentials changed; the node agent uses the new ones", "token_file", a.src.TokenPath())
}

// GetPod reads the pod from the API.
func (a *nodeAPI) GetPod(ctx context.Context, namespace, name, uid string) (*object.Pod, error) {
	return server.Direct{API: a.client.Load()}.GetPod(ctx, namespace, name, uid)
}

// GetMeshConfig reads the MeshConfig from the API.
func (a *nodeAPI) GetMeshConfig(ctx context.Context, namespace, name string) (*object.MeshConfig, error) {
	return server.Direct{API: a.client.Load()}.GetMeshConfig(ctx, namespace, name)
}

// GetConfigMap reads the ConfigMap from the API.
func (a *nodeAPI) GetConfigMap(ctx context.Context, namespace, name string) (*object.ConfigMap, error) {
	return server.Direct{API: a.client.Load()}.GetConfigMap(ctx, namespace, name)
}

// CreateEvent records ev on its pod.
func (a *nodeAPI) CreateEvent(ctx context.Context, ev object.Event) error {
	return a.client.Load().CreateEvent(ctx, ev)
}
