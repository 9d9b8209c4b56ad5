package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/install/serviceaccount"
	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/webhook"
	"github.com/mesh-cni/mesh-cni/internal/webhook/certs"
)

// shutdownGrace bounds how long admissions under way may finish at exit;
// the API server gives each call at most timeoutSeconds (5) anyway.
const shutdownGrace = 5 * time.Second

// maxBackoff caps the pause between attempts at the API at start.
const maxBackoff = 30 * time.Second

// meshReadTimeout bounds the mesh settings' reads of one admission: well
// under the configuration's timeoutSeconds (5), so that a slow API server
// makes the webhook admit the pod unchanged (the plugin then computes its
// rules at ADD) rather than the API server give up on the webhook.
const meshReadTimeout = 2 * time.Second

// Server is one replica of the webhook.
type Server struct {
	cfg    Config
	log    *slog.Logger
	src    serviceaccount.Source
	client *kube.Client
	clock  certs.Clock
	// rotator is set once the CA is in hand, before serving.
	rotator *certs.Rotator

	tokenMu sync.Mutex
	token   string
	// ready: a serving certificate, and the caBundle seen right once.
	ready atomic.Bool
	// answered, when set (by tests), is called after each admission call
	// is answered.
	answered func()
}

// New reads the service account's credentials and makes the server.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	src := serviceaccount.Source{Dir: cfg.ServiceAccountDir, Host: cfg.KubeHost, Port: cfg.KubePort}
	kc, err := src.Config()
	if err != nil {
		return nil, fmt.Errorf("service account credentials: %w", err)
	}
	return &Server{cfg: cfg, log: log, src: src, client: kube.NewClient(kc), clock: certs.RealClock{}, token: kc.Token}, nil
}

// Run gets the CA, serves on ln until ctx ends, and keeps the serving
// certificate and the caBundle current meanwhile.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	defer s.client.Close()
	var ca *certs.Authority
	err := s.retry(ctx, "reading or creating the CA Secret", func() error {
		var err error
		ca, err = certs.Store{API: s.client, Namespace: s.cfg.Namespace, Name: s.cfg.SecretName, Log: s.log}.
			LoadOrCreate(ctx, s.clock.Now(), s.cfg.CertLifetime)
		return err
	})
	if err != nil {
		return err
	}
	if s.rotator, err = certs.NewRotator(ca, s.cfg.DNSNames(), s.cfg.CertLifetime, s.clock, s.log); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.mux(),
		TLSConfig:         &tls.Config{GetCertificate: s.rotator.GetCertificate, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(2)
	go func() { defer wg.Done(); s.rotator.Run(ctx) }()
	go func() { defer wg.Done(); s.keepCABundle(ctx, ca) }()
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	s.log.Info("serving admission", "address", ln.Addr().String(), "names", s.cfg.DNSNames())
	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("stopping the server: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) mux() *http.ServeMux {
	mux := http.NewServeMux()
	edge := &webhook.EdgeRecorder{API: s.client, MeshNamespace: s.cfg.MeshNamespace, MeshConfigName: s.cfg.MeshConfigName, Timeout: meshReadTimeout}
	m := &webhook.Mutator{Log: s.log, WithoutInit: edge.Record}
	if s.cfg.Validation {
		m.Validator = &webhook.Validator{Image: s.cfg.ValidatorImage}
	}
	admit := webhook.Handler(m)
	mux.HandleFunc("/mutate-pods", func(w http.ResponseWriter, r *http.Request) {
		admit.ServeHTTP(w, r)
		if s.answered != nil {
			s.answered()
		}
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "the caBundle of "+s.cfg.ConfigurationName+" is not confirmed yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// refreshToken hands the client the token kubelet last wrote: it rotates
// while the webhook runs, and the webhook calls the API rarely.
func (s *Server) refreshToken() {
	tok, err := s.src.Token()
	if err != nil {
		s.log.Warn("cannot read the service account token; keeping the one in use", "error", err.Error())
		return
	}
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	if tok != s.token {
		s.client.SetToken(tok)
		s.token = tok
	}
}

// retry runs f until it succeeds or ctx ends, backing off and logging.
func (s *Server) retry(ctx context.Context, what string, f func() error) error {
	wait := time.Second
	for {
		s.refreshToken()
		err := f()
		if err == nil {
			return nil
		}
		s.log.Warn(what+" failed; trying again", "error", err.Error(), "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-s.clock.After(wait):
		}
		wait = min(wait*2, maxBackoff)
	}
}
