package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	acmev1 "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/engine/tlsprobe"
	"github.com/certwave/certwave/internal/kubecluster"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// runEnv is the cluster access of run, status and rollback.
type runEnv struct {
	// world is the engine's world; its client reads Secrets as metadata.
	world engine.World
	// state is the client for the state ConfigMap and the Lease.
	state client.Client
	// contextName is the kube context in use.
	contextName string
	// clock paces Lease renewals and retries in real time.
	clock engine.Clock
	// holder identifies this process in the Lease.
	holder string
	// live reads the live inventory for the drift check.
	live func(ctx context.Context) (*topology.Inventory, error)
}

// clusterFlags select the cluster and how to probe it.
type clusterFlags struct {
	kubeconfig string
	context    string
	addresses  []string
	caFile     string
	rootsFile  string
}

func (f *clusterFlags) register(fl interface {
	StringVar(p *string, name, value, usage string)
	StringArrayVar(p *[]string, name string, value []string, usage string)
}, probes bool) {
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster to migrate; required")
	fl.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context); naming it also accepts a context other than the one the plan was made for")
	if probes {
		fl.StringArrayVar(&f.addresses, "address", nil, "PATH=HOST:PORT: dial HOST:PORT for client path PATH when probing, such as the Gateway's LoadBalancer; repeatable (default: the name sent as SNI, port 443)")
		fl.StringVar(&f.caFile, "ca-file", "", "PEM bundle of the private CA's root for probing internal hosts (default: read from the private CA's CertificateRequest once it is issued)")
		fl.StringVar(&f.rootsFile, "roots-file", "", "PEM bundle of the roots for public hosts, such as Let's Encrypt's staging roots (default: the system roots)")
	}
}

// openEnv builds the environment; tests replace it.
var openEnv = openClusterEnv

// runScheme returns the kinds the real run reads and writes: the
// inventory's kinds plus cert-manager's ACME Orders.
func runScheme() *runtime.Scheme {
	s := topology.Scheme()
	if err := acmev1.AddToScheme(s); err != nil {
		panic(fmt.Sprintf("building the scheme: %v", err))
	}
	return s
}

// openClusterEnv connects to the cluster of the kubeconfig.
func openClusterEnv(ctx context.Context, f *clusterFlags, p *plan.Plan, log *slog.Logger) (*runEnv, error) {
	if f.kubeconfig == "" {
		return nil, fmt.Errorf("missing --kubeconfig: pass the kubeconfig file of the cluster to migrate")
	}
	cfg, name, err := kubecluster.Load(f.kubeconfig, f.context)
	if err != nil {
		return nil, err
	}
	if err := kubecluster.CheckReachable(cfg, name, f.kubeconfig); err != nil {
		return nil, err
	}
	base, err := client.New(cfg, client.Options{Scheme: runScheme()})
	if err != nil {
		return nil, fmt.Errorf("connecting to context %s: %w", name, err)
	}
	clock := engine.WallClock{}
	retrying := engine.NewRetryingClient(base, engine.RetryPolicy{Clock: clock, Log: log})
	c := secretMetadataOnly(retrying)

	prober, paths, err := f.prober(p, c)
	if err != nil {
		return nil, err
	}
	watcher, err := client.NewWithWatch(cfg, client.Options{Scheme: runScheme()})
	if err != nil {
		return nil, fmt.Errorf("connecting to context %s: %w", name, err)
	}
	w := &clusterWorld{client: c, watcher: watcher, clock: clock, prober: prober, paths: paths, acme: &kubecluster.OrderObserver{Client: c}}
	return &runEnv{
		world: w, state: retrying, contextName: name, clock: clock, holder: holderIdentity(),
		live: func(ctx context.Context) (*topology.Inventory, error) { return topology.LoadCluster(ctx, c, name) },
	}, nil
}

// prober builds the TLS prober from the plan's client paths and the flags.
func (f *clusterFlags) prober(p *plan.Plan, c client.Client) (engine.Prober, []string, error) {
	vf := verifyFlags{addresses: f.addresses, caFile: f.caFile, rootsFile: f.rootsFile, timeout: tlsprobe.DefaultTimeout}
	opts, err := vf.proberOptions(p)
	if err != nil {
		return nil, nil, err
	}
	opts.PrivateHosts = map[string]bool{}
	for _, cohort := range p.Cohorts {
		for _, h := range cohort.Hosts {
			if cohort.Name == plan.CohortInternal && p.Options.Variant != plan.VariantAllACME {
				opts.PrivateHosts[h.Hostname] = true
			}
		}
	}
	first, err := tlsprobe.New(opts)
	if err != nil {
		return nil, nil, err
	}
	if opts.PrivateRoots != nil || len(opts.PrivateHosts) == 0 {
		return first, first.ClientPaths(), nil
	}
	namespace := p.Options.ClusterResourceNamespace
	if namespace == "" {
		namespace = "cert-manager"
	}
	return &caDiscoveringProber{opts: opts, current: first, client: c, namespace: namespace}, first.ClientPaths(), nil
}

// caDiscoveringProber probes with the public roots until the private CA
// has issued its own certificate, then adds that CA, read from the
// CertificateRequests in the cluster resource namespace, as the private
// root. CertificateRequests carry certificates, never private keys.
type caDiscoveringProber struct {
	mu        sync.Mutex
	opts      tlsprobe.Options
	current   *tlsprobe.Prober
	found     bool
	client    client.Client
	namespace string
}

func (p *caDiscoveringProber) Probe(ctx context.Context, host, path string) (engine.ProbeResult, error) {
	p.mu.Lock()
	if !p.found && p.opts.PrivateHosts[host] {
		if pool, err := kubecluster.PrivateCARoots(ctx, p.client, p.namespace); err == nil && pool != nil {
			opts := p.opts
			opts.PrivateRoots = pool
			if next, err := tlsprobe.New(opts); err == nil {
				p.current, p.found = next, true
			}
		}
	}
	prober := p.current
	p.mu.Unlock()
	return prober.Probe(ctx, host, path)
}

// clusterWorld is the engine's World on a real cluster.
type clusterWorld struct {
	client client.Client
	// watcher watches the kinds a GitOps commit edits (engine.Watcher).
	watcher client.WithWatch
	clock   engine.Clock
	prober  engine.Prober
	paths   []string
	acme    engine.ACMEObserver
}

func (w *clusterWorld) Client() client.Client     { return w.client }
func (w *clusterWorld) Clock() engine.Clock       { return w.clock }
func (w *clusterWorld) Prober() engine.Prober     { return w.prober }
func (w *clusterWorld) ACME() engine.ACMEObserver { return w.acme }
func (w *clusterWorld) ClientPaths() []string     { return w.paths }

// Watch implements engine.Watcher.
func (w *clusterWorld) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	return w.watcher.Watch(ctx, list, opts...)
}

// secretMetadataOnly returns a client that reads and patches Secrets as
// metadata (PartialObjectMetadata requests), so no key material reaches
// certwave: a Secret it returns has metadata and an empty data map.
func secretMetadataOnly(c client.Client) client.Client {
	secretGVK := corev1.SchemeGroupVersion.WithKind("Secret")
	asMetadata := func(s *corev1.Secret) *metav1.PartialObjectMetadata {
		m := &metav1.PartialObjectMetadata{ObjectMeta: *s.ObjectMeta.DeepCopy()}
		m.SetGroupVersionKind(secretGVK)
		return m
	}
	return interceptor.NewClient(withWatchStub{c}, interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			s, ok := obj.(*corev1.Secret)
			if !ok {
				return cl.Get(ctx, key, obj, opts...)
			}
			m := asMetadata(s)
			if err := cl.Get(ctx, key, m, opts...); err != nil {
				return err
			}
			*s = corev1.Secret{ObjectMeta: m.ObjectMeta}
			return nil
		},
		List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			sl, ok := list.(*corev1.SecretList)
			if !ok {
				return cl.List(ctx, list, opts...)
			}
			ml := &metav1.PartialObjectMetadataList{}
			ml.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
			if err := cl.List(ctx, ml, opts...); err != nil {
				return err
			}
			sl.Items = nil
			for _, m := range ml.Items {
				sl.Items = append(sl.Items, corev1.Secret{ObjectMeta: m.ObjectMeta})
			}
			return nil
		},
		Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			s, ok := obj.(*corev1.Secret)
			if !ok {
				return cl.Patch(ctx, obj, patch, opts...)
			}
			m := asMetadata(s)
			if err := cl.Patch(ctx, m, patch, opts...); err != nil {
				return err
			}
			*s = corev1.Secret{ObjectMeta: m.ObjectMeta}
			return nil
		},
	})
}

// withWatchStub adapts a Client for interceptor.NewClient; certwave never
// watches through it.
type withWatchStub struct{ client.Client }

func (w withWatchStub) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	if ww, ok := w.Client.(client.WithWatch); ok {
		return ww.Watch(ctx, list, opts...)
	}
	return nil, fmt.Errorf("watch is not supported by this client")
}

// holderIdentity names this process in the Lease: host name and process
// ID.
func holderIdentity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/%d", strings.ToLower(host), os.Getpid())
}
