package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	"github.com/cert-manager/cert-manager/internal/controller/feature"
	"github.com/cert-manager/cert-manager/internal/pem"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

// shutdownTimeout bounds the graceful stop of the HTTP servers.
const shutdownTimeout = 5 * time.Second

// run starts the enabled controllers and the optional metrics and healthz
// servers, and blocks until ctx ends or one of them fails.
func run(ctx context.Context, cfg *config.ControllerConfiguration, enabled []string) error {
	log := logf.FromContext(ctx)
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(cfg.FeatureGates); err != nil {
		return fmt.Errorf("invalid featureGates %v: %w", cfg.FeatureGates, err)
	}
	limits := cfg.PEMSizeLimitsConfig
	pem.SetGlobalSizeLimits(pem.NewSizeLimitsFromConfig(limits.MaxCertificateSize, limits.MaxPrivateKeySize, limits.MaxChainLength, limits.MaxBundleSize))

	options, err := contextOptions(cfg)
	if err != nil {
		return err
	}
	log.Info("starting", "certManagerVersion", util.AppVersion, "controllers", enabled,
		"gatewayAPI", options.EnableGatewayAPI, "dns01Nameservers", options.DNS01Nameservers,
		"workers", cfg.NumberOfConcurrentWorkers,
		"minimumBackoff", cfg.CertificateRequestMinimumBackoffDuration.String(),
		"maximumBackoff", cfg.CertificateRequestMaximumBackoffDuration.String())

	group, groupCtx := errgroup.WithContext(ctx)
	factory, err := controller.NewContextFactory(groupCtx, options)
	if err != nil {
		return fmt.Errorf("connect to the API server: %w", err)
	}
	base, err := factory.Build()
	if err != nil {
		return fmt.Errorf("build the controller context: %w", err)
	}

	if cfg.MetricsListenAddress != disabledAddress {
		listener, err := net.Listen("tcp", cfg.MetricsListenAddress)
		if err != nil {
			return fmt.Errorf("listen on metricsListenAddress %s: %w", cfg.MetricsListenAddress, err)
		}
		serveHTTP(groupCtx, group, "metrics", base.Metrics.NewServer(listener), listener)
	}
	if cfg.HealthzListenAddress != disabledAddress {
		listener, err := net.Listen("tcp", cfg.HealthzListenAddress)
		if err != nil {
			return fmt.Errorf("listen on healthzListenAddress %s: %w", cfg.HealthzListenAddress, err)
		}
		server := healthz.NewServer(cfg.LeaderElectionConfig.HealthzTimeout)
		log.Info("serving /livez", "address", listener.Addr().String())
		group.Go(func() error { return server.Start(groupCtx, listener) })
	}

	known := controller.Known()
	for _, name := range enabled {
		if name == clusterissuers.ControllerName && cfg.Namespace != "" {
			log.Info("not starting the clusterissuers controller because namespace is set", "namespace", cfg.Namespace)
			continue
		}
		construct, ok := known[name]
		if !ok {
			return fmt.Errorf("unknown controller %q in controllers: use names from cert-manager v1.21.2, for example %v", name, rehearsalControllers)
		}
		instance, err := construct(factory)
		if err != nil {
			return fmt.Errorf("set up controller %s: %w", name, err)
		}
		group.Go(func() error {
			log.V(logf.InfoLevel).Info("starting controller", "controller", name)
			return instance.Run(cfg.NumberOfConcurrentWorkers, groupCtx)
		})
	}

	// Informers start after every controller has asked for its own, since a
	// factory starts only the informers requested before Start.
	gatewayAPI := options.EnableGatewayAPI && utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalGatewayAPISupport)
	base.SharedInformerFactory.Start(groupCtx.Done())
	base.KubeSharedInformerFactory.Start(groupCtx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(groupCtx.Done())
	if gatewayAPI {
		base.GWShared.Start(groupCtx.Done())
	}

	err = group.Wait()
	if gatewayAPI {
		base.GWShared.Shutdown()
	}
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	return err
}

// serveHTTP runs server on listener in group and shuts it down when ctx
// ends.
func serveHTTP(ctx context.Context, group *errgroup.Group, name string, server *http.Server, listener net.Listener) {
	logf.FromContext(ctx).Info("serving "+name, "address", listener.Addr().String())
	group.Go(func() error {
		if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s server on %s: %w", name, listener.Addr(), err)
		}
		return nil
	})
	group.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		return server.Shutdown(shutdownCtx)
	})
}

// contextOptions maps the configuration onto cert-manager's controller
// context options.
func contextOptions(cfg *config.ControllerConfiguration) (controller.ContextOptions, error) {
	http01 := cfg.ACMEHTTP01Config
	quantities := map[string]string{
		"acmeHTTP01Config.solverResourceRequestCPU":    http01.SolverResourceRequestCPU,
		"acmeHTTP01Config.solverResourceRequestMemory": http01.SolverResourceRequestMemory,
		"acmeHTTP01Config.solverResourceLimitsCPU":     http01.SolverResourceLimitsCPU,
		"acmeHTTP01Config.solverResourceLimitsMemory":  http01.SolverResourceLimitsMemory,
	}
	parsed := map[string]resource.Quantity{}
	for name, value := range quantities {
		quantity, err := resource.ParseQuantity(value)
		if err != nil {
			return controller.ContextOptions{}, fmt.Errorf("invalid %s %q: %w (use a Kubernetes quantity such as 100m or 64Mi)", name, value, err)
		}
		parsed[name] = quantity
	}

	// Like cert-manager's own command, fall back to the nameservers of
	// /etc/resolv.conf, or to Google's public resolvers when that file has
	// none (cert-manager v1.21.2, pkg/issuer/acme/dns/util).
	nameservers := cfg.ACMEDNS01Config.RecursiveNameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers
	}

	return controller.ContextOptions{
		APIServerHost:      cfg.APIServerHost,
		Kubeconfig:         cfg.KubeConfig,
		KubernetesAPIQPS:   cfg.KubernetesAPIQPS,
		KubernetesAPIBurst: cfg.KubernetesAPIBurst,
		Namespace:          cfg.Namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        cfg.ClusterResourceNamespace,
			ClusterIssuerAmbientCredentials: cfg.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        cfg.IssuerAmbientCredentials,
		},
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverImage:                 http01.SolverImage,
			HTTP01SolverResourceRequestCPU:    parsed["acmeHTTP01Config.solverResourceRequestCPU"],
			HTTP01SolverResourceRequestMemory: parsed["acmeHTTP01Config.solverResourceRequestMemory"],
			HTTP01SolverResourceLimitsCPU:     parsed["acmeHTTP01Config.solverResourceLimitsCPU"],
			HTTP01SolverResourceLimitsMemory:  parsed["acmeHTTP01Config.solverResourceLimitsMemory"],
			ACMEHTTP01SolverRunAsNonRoot:      http01.SolverRunAsNonRoot,
			HTTP01SolverRuntimeClassName:      http01.SolverRuntimeClassName,
			HTTP01SolverNameservers:           http01.SolverNameservers,
			HTTP01SolverExtraLabels:           http01.SolverExtraLabels,
			DNS01CheckAuthoritative:           !cfg.ACMEDNS01Config.RecursiveNameserversOnly,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             cfg.ACMEDNS01Config.CheckRetryPeriod,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 cfg.IngressShimConfig.DefaultIssuerName,
			DefaultIssuerKind:                 cfg.IngressShimConfig.DefaultIssuerKind,
			DefaultIssuerGroup:                cfg.IngressShimConfig.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: cfg.IngressShimConfig.DefaultAutoCertificateAnnotations,
			ExtraCertificateAnnotations:       cfg.IngressShimConfig.ExtraCertificateAnnotations,
			GatewayAPIExtraProtocols:          sets.New(cfg.GatewayAPIConfig.ExtraProtocols...),
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           cfg.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 cfg.CopiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: cfg.CertificateRequestMinimumBackoffDuration,
			CertificateRequestMaximumBackoffDuration: cfg.CertificateRequestMaximumBackoffDuration,
		},
		SchedulerOptions: controller.SchedulerOptions{
			MaxConcurrentChallenges: cfg.MaxConcurrentChallenges,
		},
		ConfigOptions: controller.ConfigOptions{
			EnableGatewayAPI:            cfg.GatewayAPIConfig.Enabled,
			EnableGatewayAPIListenerSet: cfg.GatewayAPIConfig.EnableListenerSet,
		},
	}, nil
}
