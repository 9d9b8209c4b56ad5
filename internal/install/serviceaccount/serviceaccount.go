// Package serviceaccount reads the installer pod's own API credentials:
// the projected service account token and CA, and the API server address
// Kubernetes puts in every pod's environment. The node agent uses them in
// its own process, so no credential is ever written onto the host.
package serviceaccount

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// Source is where the credentials come from.
type Source struct {
	// Dir holds token and ca.crt (the projected volume); kubelet swaps
	// both when it rotates the token.
	Dir string
	// Host and Port are KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
	Host string
	Port string
}

// TokenPath is the token's file, for log lines about its rotation.
func (s Source) TokenPath() string { return filepath.Join(s.Dir, "token") }

// Server returns the API server's URL.
func (s Source) Server() (string, error) {
	if s.Host == "" || s.Port == "" {
		return "", errors.New("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
	}
	if p, err := strconv.Atoi(s.Port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("KUBERNETES_SERVICE_PORT %q is not a port number", s.Port)
	}
	return "https://" + net.JoinHostPort(strings.Trim(s.Host, "[]"), s.Port), nil
}

// Token reads the bearer token as it is now.
func (s Source) Token() (string, error) {
	path := s.TokenPath()
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(data))
	// A token goes into an HTTP header: a space or control character
	// would be refused there, or worse, split it.
	if tok == "" || strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("%s does not hold a bearer token", path)
	}
	return tok, nil
}

// CA reads the PEM bundle that signs the API server's certificate.
func (s Source) CA() ([]byte, error) {
	path := filepath.Join(s.Dir, "ca.crt")
	ca, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("%s does not hold a PEM certificate", path)
	}
	return ca, nil
}

// Config reads everything and returns the client configuration.
func (s Source) Config() (kube.Config, error) {
	server, err := s.Server()
	if err != nil {
		return kube.Config{}, err
	}
	tok, err := s.Token()
	if err != nil {
		return kube.Config{}, err
	}
	ca, err := s.CA()
	if err != nil {
		return kube.Config{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return kube.Config{}, fmt.Errorf("%s: no certificate could be parsed", filepath.Join(s.Dir, "ca.crt"))
	}
	return kube.Config{Server: server, Token: tok, TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, nil
}
