package install

import (
	"bytes"
	"log/slog"

	"github.com/mesh-cni/mesh-cni/internal/install/serviceaccount"
	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// nodeAPI is the node agent's API client, with the pod's own service
// account. kubelet rotates the projected token while we run; refresh
// hands the new one to the client, whose watches and reads carry on.
type nodeAPI struct {
	src    serviceaccount.Source
	log    *slog.Logger
	client *kube.Client

	// What the client was given, and the last failure to read the files
	// (logged once); only the sync loop touches these.
	token   string
	ca      []byte
	readErr string
}

// newNodeAPI reads the credentials; without them the agent could answer
// nothing, so the installer does not start.
func newNodeAPI(src serviceaccount.Source, log *slog.Logger) (*nodeAPI, error) {
	cfg, err := src.Config()
	if err != nil {
		return nil, err
	}
	ca, err := src.CA()
	if err != nil {
		return nil, err
	}
	return &nodeAPI{src: src, log: log, client: kube.NewClient(cfg), token: cfg.Token, ca: ca}, nil
}

// refresh picks up a rotated token. A failed read keeps the token in use:
// it stays valid for a while after kubelet writes the next one.
func (a *nodeAPI) refresh() {
	tok, err := a.src.Token()
	var ca []byte
	if err == nil {
		ca, err = a.src.CA()
	}
	if err != nil {
		if err.Error() != a.readErr {
			a.log.Warn("cannot read the service account credentials; the node agent keeps the token it has", "error", err.Error())
		}
		a.readErr = err.Error()
		return
	}
	a.readErr = ""
	if tok != a.token {
		a.client.SetToken(tok)
		a.token = tok
		a.log.Info("the service account token changed; the node agent uses the new one", "token_file", a.src.TokenPath())
	}
	if !bytes.Equal(ca, a.ca) {
		// The client's TLS config, shared by its open watches, is fixed;
		// a cluster CA rotation restarts pods anyway.
		a.ca = ca
		a.log.Warn("the service account's ca.crt changed; the node agent trusts the one it started with until the pod restarts",
			"file", a.src.Dir+"/ca.crt")
	}
}
