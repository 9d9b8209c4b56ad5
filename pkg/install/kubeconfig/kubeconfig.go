// Package kubeconfig writes the kubeconfig the plugin uses to reach the
// API server, built from the installer pod's service account. The plugin
// runs on the host, outside any pod, so it cannot read the projected token
// itself; the installer copies it and rewrites the file when it rotates.
package kubeconfig

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mode is the permission of the written kubeconfig: it holds a bearer token.
const Mode os.FileMode = 0o600

// Source is where the credentials come from.
type Source struct {
	// ServiceAccountDir holds token and ca.crt (the projected volume).
	ServiceAccountDir string
	// Host and Port are KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
	Host string
	Port string
}

// Render reads the service account files and returns the kubeconfig.
func (s Source) Render() ([]byte, error) {
	if s.Host == "" || s.Port == "" {
		return nil, errors.New("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
	}
	if p, err := strconv.Atoi(s.Port); err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("KUBERNETES_SERVICE_PORT %q is not a port number", s.Port)
	}
	tokenPath := filepath.Join(s.ServiceAccountDir, "token")
	token, err := os.ReadFile(tokenPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tokenPath, err)
	}
	tok := strings.TrimSpace(string(token))
	if tok == "" || strings.ContainsAny(tok, "\"\\\n\r") {
		return nil, fmt.Errorf("%s does not hold a bearer token", tokenPath)
	}
	caPath := filepath.Join(s.ServiceAccountDir, "ca.crt")
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", caPath, err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("%s does not hold a PEM certificate", caPath)
	}
	server := "https://" + net.JoinHostPort(strings.Trim(s.Host, "[]"), s.Port)
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Written by the mesh-cni installer for the mesh-cni CNI plugin; rewritten
# when the service account token rotates. Do not edit.
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: "%s"
    certificate-authority-data: "%s"
users:
- name: mesh-cni
  user:
    token: "%s"
contexts:
- name: mesh-cni
  context:
    cluster: local
    user: mesh-cni
current-context: mesh-cni
`, server, base64.StdEncoding.EncodeToString(ca), tok)
	return b.Bytes(), nil
}
