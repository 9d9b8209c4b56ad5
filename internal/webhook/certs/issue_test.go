package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var names = []string{"mesh-cni-webhook", "mesh-cni-webhook.mesh-cni", "mesh-cni-webhook.mesh-cni.svc", "127.0.0.1"}

func newCA(t *testing.T, lifetime time.Duration) *Authority {
	t.Helper()
	ca, err := NewAuthority(t0, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// verify checks cert against ca as a TLS client would for name at when.
func verify(ca *Authority, der []byte, name string, when time.Time) error {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: when, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

func TestIssue(t *testing.T) {
	ca := newCA(t, CALifetime)
	again, err := ParseAuthority(ca.CertPEM, ca.KeyPEM)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("ParseAuthority of the CA's own PEM: %v", err)
	}
	if pub := ca.Cert.PublicKey.(*ecdsa.PublicKey); pub.Curve != elliptic.P256() || !ca.Cert.IsCA {
		t.Errorf("CA curve %v, IsCA %v", pub.Curve.Params().Name, ca.Cert.IsCA)
	}
	cert, err := again.Issue(t0, 24*time.Hour, names)
	if err != nil {
		t.Fatal(err)
	}
	if pub := cert.Leaf.PublicKey.(*ecdsa.PublicKey); pub.Curve != elliptic.P256() || cert.Leaf.IsCA {
		t.Errorf("serving certificate curve %s, IsCA %v", pub.Curve.Params().Name, cert.Leaf.IsCA)
	}
	for _, n := range names {
		if err := verify(ca, cert.Certificate[0], n, t0); err != nil {
			t.Errorf("verifying for %s: %v", n, err)
		}
	}
	if err := verify(ca, cert.Certificate[0], "other.mesh-cni.svc", t0); err == nil {
		t.Error("the certificate verified for a name it does not carry")
	}
	if err := verify(ca, cert.Certificate[0], names[2], t0.Add(24*time.Hour+time.Second)); err == nil {
		t.Error("the certificate verified after its lifetime")
	}
	if err := verify(newCA(t, CALifetime), cert.Certificate[0], names[2], t0); err == nil {
		t.Error("the certificate verified against another CA")
	}
}

func TestIssueStopsAtTheCAsEnd(t *testing.T) {
	ca := newCA(t, 10*time.Hour)
	cert, err := ca.Issue(t0, 24*time.Hour, names)
	if err != nil || !cert.Leaf.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Fatalf("Issue = %v, %v; want it to end with the CA at %v", cert.Leaf.NotAfter, err, ca.Cert.NotAfter)
	}
	if _, err := ca.Issue(t0.Add(11*time.Hour), time.Hour, names); err == nil || !strings.Contains(err.Error(), "the CA expired") {
		t.Errorf("issuing after the CA's end: %v", err)
	}
	if _, err := ca.Issue(t0, time.Hour, nil); err == nil {
		t.Error("issued a certificate without a name")
	}
}

func TestParseAuthorityRefuses(t *testing.T) {
	a, b := newCA(t, CALifetime), newCA(t, CALifetime)
	leaf, err := a.Issue(t0, time.Hour, names)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM := pemBlock("CERTIFICATE", leaf.Certificate[0])
	tests := []struct {
		name      string
		cert, key []byte
		want      string
	}{
		{"keys swapped", a.CertPEM, b.KeyPEM, "does not match"},
		{"a serving certificate", leafPEM, a.KeyPEM, "is no CA"},
		{"empty", nil, nil, "not PEM"},
		{"no key", a.CertPEM, nil, "not a PEM EC private key"},
	}
	for _, tc := range tests {
		if _, err := ParseAuthority(tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
