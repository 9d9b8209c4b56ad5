package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/webhook/certs"
)

// keepCABundle writes the CA into the configuration, and writes it again
// whenever it is found changed (the configuration re-created, say).
func (s *Server) keepCABundle(ctx context.Context, ca *certs.Authority) {
	for ctx.Err() == nil {
		err := s.retry(ctx, "writing the caBundle", func() error { return s.ensureCABundle(ctx, ca) })
		if err != nil {
			return
		}
		if !s.ready.Swap(true) {
			s.log.Info("ready: the configuration carries the CA", "webhook_configuration", s.cfg.ConfigurationName)
		}
		select {
		case <-ctx.Done():
		case <-s.clock.After(s.cfg.Resync):
		}
	}
}

// ensureCABundle reads the configuration and patches the caBundle of its
// first webhook when it is not the CA. The patch tests that webhook's name,
// so it never lands on another webhook.
func (s *Server) ensureCABundle(ctx context.Context, ca *certs.Authority) error {
	path := "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + url.PathEscape(s.cfg.ConfigurationName)
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := s.client.Get(ctx, path, &mwc); err != nil {
		return err
	}
	if len(mwc.Webhooks) == 0 || mwc.Webhooks[0].Name != s.cfg.WebhookName {
		return fmt.Errorf("webhooks[0] of MutatingWebhookConfiguration %s is not %s", s.cfg.ConfigurationName, s.cfg.WebhookName)
	}
	if bytes.Equal(mwc.Webhooks[0].ClientConfig.CABundle, ca.CertPEM) {
		return nil
	}
	ops := []kube.PatchOp{
		{Op: "test", Path: "/webhooks/0/name", Value: s.cfg.WebhookName},
		{Op: "add", Path: "/webhooks/0/clientConfig/caBundle", Value: base64.StdEncoding.EncodeToString(ca.CertPEM)},
	}
	if err := s.client.JSONPatch(ctx, path, ops, nil); err != nil {
		return err
	}
	s.log.Info("wrote the CA into the caBundle", "webhook_configuration", s.cfg.ConfigurationName, "webhook", s.cfg.WebhookName)
	return nil
}
