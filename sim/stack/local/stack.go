package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Stack is a running local world.
type Stack struct {
	opts      Options
	log       *slog.Logger
	dir       string
	removeDir bool
	processes []*Process
	// teardown has one step per started server, in start order.
	teardown   []teardownStep
	acme       *ACMEServers
	restConfig *rest.Config
	kubeconfig string
	stopped    bool
}

// teardownStep ends one server. A failed Start passes reportExited false,
// as in Stack.stop.
type teardownStep struct {
	name string
	// attrs are logged with the stop and keep messages, for example the
	// PID.
	attrs []any
	stop  func(reportExited bool) error
}

// addTeardown registers a server that Stop ends before every server
// registered earlier.
func (s *Stack) addTeardown(name string, stop func(reportExited bool) error, attrs ...any) {
	s.teardown = append(s.teardown, teardownStep{name: name, attrs: attrs, stop: stop})
}

// Start starts etcd, kube-apiserver, kube-controller-manager, installs the
// CRDs, starts the ACME servers when opts.ACME is set, and starts the
// cert-manager controller. ctx bounds the start only:
// the servers run until Stop. On error it stops whatever
// it started, unless opts.Keep is set, and keeps the directory with the
// logs. It returns a MissingBinariesError
// before starting anything when a binary is not built, and an error
// wrapping dns.ErrNamedNotFound when opts.ACME is set and named is missing.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	opts = opts.withDefaults()
	if err := opts.Binaries.Check(); err != nil {
		return nil, err
	}
	if opts.ACME != nil {
		acmeOpts, err := opts.ACME.withDefaults(opts.CacheDir)
		if err != nil {
			return nil, err
		}
		opts.ACME = &acmeOpts
	}
	s := &Stack{opts: opts, log: opts.Log, dir: opts.Dir}
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "certwave-local-")
		if err != nil {
			return nil, fmt.Errorf("create the stack directory: %w", err)
		}
		s.dir = dir
		s.removeDir = true
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the stack directory: %w", err)
	}

	start := time.Now()
	if err := s.start(ctx); err != nil {
		// Keep the directory, and so the server logs, for inspection.
		s.removeDir = false
		s.log.Error("local stack failed to start", "error", err, "dir", s.dir)
		if stopErr := s.stop(false); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	s.log.Info("local stack ready", "after", time.Since(start).Round(time.Millisecond),
		"apiserver", s.restConfig.Host, "kubeconfig", s.kubeconfig)
	return s, nil
}

func (s *Stack) start(ctx context.Context) error {
	etcdURL, err := s.startEtcd(ctx)
	if err != nil {
		return err
	}
	if err := s.startAPIServer(ctx, etcdURL); err != nil {
		return err
	}
	if err := s.createNamespace(ctx, s.opts.ClusterResourceNamespace); err != nil {
		return err
	}
	if err := s.installCRDs(ctx); err != nil {
		return err
	}
	if err := s.startControllerManager(ctx); err != nil {
		return err
	}

	cm := s.opts.CertManager
	if s.opts.ACME != nil {
		if err := s.startACME(ctx, *s.opts.ACME, &cm); err != nil {
			return err
		}
	}
	if s.opts.BeforeCertManager != nil {
		if err := s.opts.BeforeCertManager(ctx, s, &cm); err != nil {
			return fmt.Errorf("BeforeCertManager hook: %w", err)
		}
	}

	if err := s.startCertManager(ctx, cm); err != nil {
		return err
	}
	if s.acme != nil {
		return s.waitIssuerReady(ctx, s.acme.IssuerName)
	}
	return nil
}

func (s *Stack) createNamespace(ctx context.Context, name string) error {
	client, err := kubernetes.NewForConfig(s.restConfig)
	if err != nil {
		return fmt.Errorf("create a Kubernetes client: %w", err)
	}
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err = client.CoreV1().Namespaces().Create(ctx, namespace, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// RESTConfig returns a copy of the admin client configuration.
func (s *Stack) RESTConfig() *rest.Config { return rest.CopyConfig(s.restConfig) }

// Kubeconfig returns the path of the admin kubeconfig file.
func (s *Stack) Kubeconfig() string { return s.kubeconfig }

// Dir returns the directory with the servers' data, configuration and logs.
func (s *Stack) Dir() string { return s.dir }

// Processes returns the started servers in start order.
func (s *Stack) Processes() []*Process { return append([]*Process(nil), s.processes...) }

// Stop ends every server in reverse start order, the in-process ACME front
// included, and removes a temporary directory. With Options.Keep it only
// logs the PIDs and the directory.
// A server that exited before Stop is reported in the error. Calling it
// again does nothing.
func (s *Stack) Stop() error {
	return s.stop(true)
}

// stop implements Stop. A failed Start passes reportExited false, because
// its own error already describes the server that exited.
func (s *Stack) stop(reportExited bool) error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	if s.opts.Keep {
		for _, step := range s.teardown {
			s.log.Info("keeping server", append([]any{"server", step.name}, step.attrs...)...)
		}
		s.log.Info("keeping the local stack", "dir", s.dir, "kubeconfig", s.kubeconfig)
		return nil
	}

	var errs []error
	for i := len(s.teardown) - 1; i >= 0; i-- {
		step := s.teardown[i]
		if err := step.stop(reportExited); err != nil {
			errs = append(errs, err)
		}
		s.log.Info("stopped", append([]any{"server", step.name}, step.attrs...)...)
	}
	if s.removeDir && len(errs) == 0 {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove the stack directory: %w", err))
		}
	}
	return errors.Join(errs...)
}
