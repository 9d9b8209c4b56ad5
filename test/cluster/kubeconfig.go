package cluster

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// kubeCred is how a kubeconfig authenticates: a client certificate or a token.
type kubeCred struct {
	user              string
	certFile, keyFile string
	token             string
}

// writeKubeconfig writes a self-contained kubeconfig (everything embedded) so
// it can be copied or mounted without the PKI directory.
func writeKubeconfig(path, server, caFile string, c kubeCred) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	b64 := base64.StdEncoding.EncodeToString
	var user strings.Builder
	if c.token != "" {
		fmt.Fprintf(&user, "    token: %s\n", c.token)
	} else {
		cert, err := os.ReadFile(c.certFile)
		if err != nil {
			return fmt.Errorf("writing kubeconfig %s: %w", path, err)
		}
		key, err := os.ReadFile(c.keyFile)
		if err != nil {
			return fmt.Errorf("writing kubeconfig %s: %w", path, err)
		}
		fmt.Fprintf(&user, "    client-certificate-data: %s\n    client-key-data: %s\n", b64(cert), b64(key))
	}
	doc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: mesh-cni
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
%scontexts:
- name: mesh-cni
  context:
    cluster: mesh-cni
    user: %s
current-context: mesh-cni
`, server, b64(ca), c.user, user.String(), c.user)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}
