// Package kube is mesh-cni's lean Kubernetes client: it reads a kubeconfig
// and does exactly the few requests mesh-cni needs (GET a pod, a
// MeshConfig, a ConfigMap; POST an Event; for the admission webhook, GET,
// create and JSON-patch objects of its own types) over net/http. The plugin is
// exec'd for every pod, so it avoids client-go's clientset, whose package
// initialisation alone costs more than the whole skip path may.
package kube

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// kubeconfig holds the parts of a kubeconfig file this client understands.
type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server                   string `json:"server"`
			CertificateAuthority     string `json:"certificate-authority"`
			CertificateAuthorityData string `json:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify"`
			TLSServerName            string `json:"tls-server-name"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string   `json:"name"`
		User authInfo `json:"user"`
	} `json:"users"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
}

type authInfo struct {
	Token                 string `json:"token"`
	TokenFile             string `json:"tokenFile"`
	ClientCertificate     string `json:"client-certificate"`
	ClientCertificateData string `json:"client-certificate-data"`
	ClientKey             string `json:"client-key"`
	ClientKeyData         string `json:"client-key-data"`
}

// Config is what a Client needs to reach and authenticate to an API
// server, resolved from a kubeconfig's current context.
type Config struct {
	// Server is the API server's base URL, e.g. https://10.96.0.1:443.
	Server string
	// Token is a bearer token; empty when the client authenticates with a
	// certificate.
	Token string
	// TLS verifies the server and, with a client certificate, identifies us.
	TLS *tls.Config
}

// LoadKubeconfig reads the kubeconfig at path and resolves its current
// context (or its only context) into a Config. Relative file references
// are taken relative to the kubeconfig's directory, as kubectl does.
func LoadKubeconfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading kubeconfig: %w", err)
	}
	return parseKubeconfig(path, data, os.ReadFile)
}

// readFunc reads a file a kubeconfig names: os.ReadFile, or in the fuzz
// test a reader of its own files only.
type readFunc func(path string) ([]byte, error)

// parseKubeconfig resolves data, the kubeconfig read from path, reading
// the files it names with read.
func parseKubeconfig(path string, data []byte, read readFunc) (Config, error) {
	var kc kubeconfig
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return Config{}, fmt.Errorf("parsing kubeconfig %s: %w", path, err)
	}
	cfg, err := kc.resolve(filepath.Dir(path), read)
	if err != nil {
		return Config{}, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

func (kc *kubeconfig) resolve(dir string, read readFunc) (Config, error) {
	ctxName := kc.CurrentContext
	if ctxName == "" && len(kc.Contexts) == 1 {
		ctxName = kc.Contexts[0].Name
	}
	var clusterName, userName string
	found := false
	for _, c := range kc.Contexts {
		if c.Name == ctxName {
			clusterName, userName, found = c.Context.Cluster, c.Context.User, true
		}
	}
	if !found {
		return Config{}, fmt.Errorf("context %q not found", ctxName)
	}
	cfg := Config{TLS: &tls.Config{MinVersion: tls.VersionTLS12}}
	found = false
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		found = true
		if c.Cluster.Server != "" {
			server, err := serverURL(c.Cluster.Server)
			if err != nil {
				return Config{}, fmt.Errorf("cluster %q: %w", clusterName, err)
			}
			cfg.Server = server
		}
		cfg.TLS.InsecureSkipVerify = c.Cluster.InsecureSkipTLSVerify
		cfg.TLS.ServerName = c.Cluster.TLSServerName
		ca, err := dataOrFile(c.Cluster.CertificateAuthorityData, c.Cluster.CertificateAuthority, dir, read)
		if err != nil {
			return Config{}, fmt.Errorf("cluster %q certificate authority: %w", clusterName, err)
		}
		if len(ca) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				return Config{}, fmt.Errorf("cluster %q certificate authority: no PEM certificate", clusterName)
			}
			cfg.TLS.RootCAs = pool
		}
	}
	if !found {
		return Config{}, fmt.Errorf("cluster %q not found", clusterName)
	}
	if cfg.Server == "" {
		return Config{}, fmt.Errorf("cluster %q has no server", clusterName)
	}
	for _, u := range kc.Users {
		if u.Name == userName {
			if err := u.User.apply(&cfg, dir, read); err != nil {
				return Config{}, fmt.Errorf("user %q: %w", userName, err)
			}
		}
	}
	return cfg, nil
}

func (a authInfo) apply(cfg *Config, dir string, read readFunc) error {
	cfg.Token = a.Token
	if cfg.Token == "" && a.TokenFile != "" {
		tok, err := read(abs(dir, a.TokenFile))
		if err != nil {
			return fmt.Errorf("reading token file: %w", err)
		}
		cfg.Token = strings.TrimSpace(string(tok))
	}
	// Else every request would fail, naming only the Authorization header.
	if i := strings.IndexFunc(cfg.Token, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }); i >= 0 {
		return fmt.Errorf("the token holds a control character (at byte %d), which no HTTP header can carry", i)
	}
	cert, err := dataOrFile(a.ClientCertificateData, a.ClientCertificate, dir, read)
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	key, err := dataOrFile(a.ClientKeyData, a.ClientKey, dir, read)
	if err != nil {
		return fmt.Errorf("client key: %w", err)
	}
	if len(cert) == 0 && len(key) == 0 {
		return nil
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return fmt.Errorf("client certificate and key: %w", err)
	}
	cfg.TLS.Certificates = []tls.Certificate{pair}
	return nil
}

// serverURL is a cluster's server as the base URL of every request: an
// http or https URL with a host and no query, without a trailing slash.
// One without a scheme is taken as https, as kubectl takes it.
func serverURL(server string) (string, error) {
	s := strings.TrimRight(server, "/")
	if u, err := url.Parse(s); err != nil || u.Scheme == "" || u.Host == "" {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.ContainsAny(s, "?#") {
		return "", fmt.Errorf("server %q is not an http or https URL of a host", server)
	}
	return s, nil
}

// dataOrFile returns base64 data from the kubeconfig itself, else the
// contents of the named file, else nothing.
func dataOrFile(data, file, dir string, read readFunc) ([]byte, error) {
	if data != "" {
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, errors.New("invalid base64 data")
		}
		return b, nil
	}
	if file == "" {
		return nil, nil
	}
	return read(abs(dir, file))
}

func abs(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
