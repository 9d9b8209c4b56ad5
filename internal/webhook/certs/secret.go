package certs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// The Secret's keys.
const (
	CACertKey = "ca.crt"
	CAKeyKey  = "ca.key"
)

// CALifetime is how long a new CA is valid. Nothing renews it: a CA near
// its end is refused at start (see LoadOrCreate), and deleting the Secret
// makes the next replica that starts create a new one.
const CALifetime = 10 * 365 * 24 * time.Hour

// API is the part of kube.Client the Secret needs.
type API interface {
	Get(ctx context.Context, path string, out any) error
	Create(ctx context.Context, path string, obj, out any) error
}

// Store is the Secret that holds the CA all replicas share.
type Store struct {
	API             API
	Namespace, Name string
	Log             *slog.Logger
}

func (s Store) path() string {
	return "/api/v1/namespaces/" + url.PathEscape(s.Namespace) + "/secrets/" + url.PathEscape(s.Name)
}

// LoadOrCreate returns the CA in the Secret, making both when there is
// none. Replicas starting together race to create it: the loser's create
// is AlreadyExists, and it reads the winner's. A CA that expires within
// minValid (the serving certificates' lifetime) is an error naming the
// Secret, as is one that cannot be read.
func (s Store) LoadOrCreate(ctx context.Context, now time.Time, minValid time.Duration) (*Authority, error) {
	ca, err := s.load(ctx)
	if errors.Is(err, kube.ErrNotFound) {
		ca, err = s.create(ctx, now)
	}
	if err != nil {
		return nil, err
	}
	if now.Add(minValid).After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("the CA in Secret %s/%s expires at %s: delete the Secret and restart the webhook's pods to make a new one",
			s.Namespace, s.Name, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return ca, nil
}

func (s Store) load(ctx context.Context) (*Authority, error) {
	var sec corev1.Secret
	if err := s.API.Get(ctx, s.path(), &sec); err != nil {
		return nil, fmt.Errorf("reading the webhook's CA Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	ca, err := ParseAuthority(sec.Data[CACertKey], sec.Data[CAKeyKey])
	if err != nil {
		return nil, fmt.Errorf("the CA in Secret %s/%s (keys %s, %s): %w; delete the Secret to have a new CA made", s.Namespace, s.Name, CACertKey, CAKeyKey, err)
	}
	return ca, nil
}

func (s Store) create(ctx context.Context, now time.Time) (*Authority, error) {
	ca, err := NewAuthority(now, CALifetime)
	if err != nil {
		return nil, err
	}
	sec := corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace,
			Labels: map[string]string{"app.kubernetes.io/name": "mesh-cni", "app.kubernetes.io/component": "webhook"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{CACertKey: ca.CertPEM, CAKeyKey: ca.KeyPEM},
	}
	err = s.API.Create(ctx, "/api/v1/namespaces/"+url.PathEscape(s.Namespace)+"/secrets", sec, nil)
	if kube.IsAlreadyExists(err) {
		s.Log.Info("another replica created the CA Secret first; using its CA", "namespace", s.Namespace, "secret", s.Name)
		return s.load(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the webhook's CA Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	s.Log.Info("created the CA Secret", "namespace", s.Namespace, "secret", s.Name,
		"not_after", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	return ca, nil
}
