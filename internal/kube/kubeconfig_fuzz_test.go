package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kcDir is where the fuzzed kubeconfig says it lives; kcFiles are the
// only files its references can reach.
const kcDir = "/kc"

// kcFiles makes a CA, a client certificate and key it signed and a token
// file: the files and embedded data the seeds name.
func kcFiles(t testing.TB) map[string][]byte {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, clientKey := key(), key()
	tmpl := func(cn string, ca bool) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	}
	caTmpl := tmpl("fuzz-ca", true)
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, tmpl("fuzz-client", false), caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"ca.crt":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"client.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER}),
		"client.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"token":      []byte("token-from-file\n"),
	}
}

// kcSeeds are testdata/kubeconfig/*.yaml with the generated material put
// in for their @..._DATA@ marks, and Calico's kubeconfig from the
// installer's golden net.d.
func kcSeeds(t testing.TB, files map[string][]byte) [][]byte {
	paths, err := filepath.Glob(filepath.Join("testdata", "kubeconfig", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no kubeconfig seeds: %v", err)
	}
	paths = append(paths, filepath.Join("..", "install", "chain", "testdata", "calico", "netd", "calico-kubeconfig"))
	b64 := base64.StdEncoding.EncodeToString
	marks := strings.NewReplacer("@CA_DATA@", b64(files["ca.crt"]), "@CERT_DATA@", b64(files["client.crt"]), "@KEY_DATA@", b64(files["client.key"]))
	var out [][]byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, []byte(marks.Replace(string(data))))
	}
	return out
}

// FuzzKubeconfig: no kubeconfig makes the parser panic or read a file
// other than those it names next to it; a refusal names the kubeconfig;
// an accepted one gives an http(s) base URL, TLS 1.2 or later, a token an
// HTTP header can carry and, where the user has a certificate, the pair.
func FuzzKubeconfig(f *testing.F) {
	files := kcFiles(f)
	for _, s := range kcSeeds(f, files) {
		f.Add(s)
	}
	read := func(path string) ([]byte, error) {
		if data, ok := files[strings.TrimPrefix(path, kcDir+"/")]; ok && filepath.Dir(path) == kcDir {
			return data, nil
		}
		return nil, errors.New("not one of the fuzz test's files")
	}
	path := filepath.Join(kcDir, "config")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseKubeconfig(path, data, read)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parsing kubeconfig "+path+": ") && !strings.HasPrefix(err.Error(), "kubeconfig "+path+": ") {
				t.Fatalf("refusal %q does not name the kubeconfig", err)
			}
			return
		}
		checkServer(t, cfg.Server)
		if cfg.TLS == nil || cfg.TLS.MinVersion < tls.VersionTLS12 {
			t.Fatalf("TLS config %+v allows less than TLS 1.2", cfg.TLS)
		}
		if strings.ContainsFunc(cfg.Token, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			t.Fatalf("token %q cannot go into an Authorization header", cfg.Token)
		}
		for _, c := range cfg.TLS.Certificates {
			if len(c.Certificate) == 0 || c.PrivateKey == nil {
				t.Fatalf("client certificate without its key: %+v", c)
			}
		}
	})
}

// checkServer fails unless server is the base of every request path: an
// http(s) URL with a host, no credentials, query, fragment or trailing
// slash.
func checkServer(t *testing.T, server string) {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(server, "/") {
		t.Fatalf("server %q (%v) is not an http(s) base URL", server, err)
	}
	if _, err := url.Parse(server + "/api/v1/namespaces/a/pods/b"); err != nil {
		t.Fatalf("server %q does not take a path: %v", server, err)
	}
}
