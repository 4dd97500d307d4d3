package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/utils/ptr"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	configscheme "github.com/cert-manager/cert-manager/internal/apis/config/controller/scheme"
	"github.com/cert-manager/cert-manager/internal/apis/config/controller/validation"
	"github.com/cert-manager/cert-manager/pkg/apis/config/controller/v1alpha1"
)

// disabledAddress turns the metrics or healthz server off when used as its
// listen address.
const disabledAddress = "0"

// flagValues contains the command-line flags. A flag overrides the
// configuration file only when it is set on the command line.
type flagValues struct {
	configFile               string
	kubeconfig               string
	namespace                string
	clusterResourceNamespace string
	controllers              string
	metricsAddress           string
	healthzAddress           string
	workers                  int
	maxChallenges            int
	minBackoff               time.Duration
	maxBackoff               time.Duration
	dns01Nameservers         string
	dns01NameserversOnly     bool
	dns01CheckRetryPeriod    time.Duration
	enableGatewayAPI         bool
	verbosity                int
	version                  bool
}

func registerFlags(flags *flag.FlagSet) *flagValues {
	v := &flagValues{}
	flags.StringVar(&v.configFile, "config", "", "path of a controller.config.cert-manager.io/v1alpha1 ControllerConfiguration file (YAML or JSON)")
	flags.StringVar(&v.kubeconfig, "kubeconfig", "", "path of the kubeconfig file of the API server (kubeConfig)")
	flags.StringVar(&v.namespace, "namespace", "", "watch only this namespace; empty watches all (namespace)")
	flags.StringVar(&v.clusterResourceNamespace, "cluster-resource-namespace", "", "namespace of the Secrets that ClusterIssuers reference (clusterResourceNamespace, default kube-system)")
	flags.StringVar(&v.controllers, "controllers", "", "comma-separated controllers to run; \"*\" is the rehearsal set and \"-name\" removes one (controllers)")
	flags.StringVar(&v.metricsAddress, "metrics-listen-address", "", "host:port of the Prometheus metrics server, or \"0\" for none (metricsListenAddress, default none)")
	flags.StringVar(&v.healthzAddress, "healthz-listen-address", "", "host:port of the /livez server, or \"0\" for none (healthzListenAddress, default none)")
	flags.IntVar(&v.workers, "concurrent-workers", 0, "workers per controller (numberOfConcurrentWorkers, default 5)")
	flags.IntVar(&v.maxChallenges, "max-concurrent-challenges", 0, "ACME challenges processed at once (maxConcurrentChallenges, default 60)")
	flags.DurationVar(&v.minBackoff, "certificate-request-minimum-backoff-duration", 0, "first wait after a failed issuance (certificateRequestMinimumBackoffDuration, default 1h)")
	flags.DurationVar(&v.maxBackoff, "certificate-request-maximum-backoff-duration", 0, "longest wait after repeated failed issuances (certificateRequestMaximumBackoffDuration, default 32h)")
	flags.StringVar(&v.dns01Nameservers, "dns01-recursive-nameservers", "", "comma-separated host:port nameservers for DNS01 self-checks (acmeDNS01Config.recursiveNameservers)")
	flags.BoolVar(&v.dns01NameserversOnly, "dns01-recursive-nameservers-only", false, "use only the recursive nameservers for DNS01 self-checks, never the authoritative ones (acmeDNS01Config.recursiveNameserversOnly)")
	flags.DurationVar(&v.dns01CheckRetryPeriod, "dns01-check-retry-period", 0, "wait between DNS01 self-checks (acmeDNS01Config.checkRetryPeriod, default 10s)")
	flags.BoolVar(&v.enableGatewayAPI, "enable-gateway-api", false, "run the gateway-shim on Gateway API resources (gatewayAPI.enabled); the Gateway API CRDs must be installed")
	flags.IntVar(&v.verbosity, "v", 0, "log verbosity (logging.verbosity)")
	flags.BoolVar(&v.version, "version", false, "print the version and exit")
	return v
}

// loadConfig reads a configuration file, or an empty configuration when
// path is empty, and applies certwave's defaults and then cert-manager's.
func loadConfig(path string) (*config.ControllerConfiguration, error) {
	scheme, codecs, err := configscheme.NewSchemeAndCodecs(serializer.EnableStrict)
	if err != nil {
		return nil, fmt.Errorf("build the configuration scheme: %w", err)
	}

	external := &v1alpha1.ControllerConfiguration{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read --config: %w", err)
		}
		if _, _, err := codecs.UniversalDeserializer().Decode(data, nil, external); err != nil {
			return nil, fmt.Errorf("invalid --config %s: %w (expected apiVersion controller.config.cert-manager.io/v1alpha1, kind ControllerConfiguration)", path, err)
		}
	}
	applyCertwaveDefaults(external)
	scheme.Default(external)

	cfg := &config.ControllerConfiguration{}
	if err := scheme.Convert(external, cfg, nil); err != nil {
		return nil, fmt.Errorf("convert --config %s: %w", path, err)
	}
	return cfg, nil
}

// applyCertwaveDefaults fills the fields where certwave's default differs
// from cert-manager's. cert-manager's defaults listen on 0.0.0.0, run
// leader election and let ClusterIssuers use ambient cloud credentials,
// none of which a rehearsal on 127.0.0.1 wants.
func applyCertwaveDefaults(c *v1alpha1.ControllerConfiguration) {
	if c.LeaderElectionConfig.Enabled == nil {
		c.LeaderElectionConfig.Enabled = ptr.To(false)
	}
	if c.MetricsListenAddress == "" {
		c.MetricsListenAddress = disabledAddress
	}
	if c.HealthzListenAddress == "" {
		c.HealthzListenAddress = disabledAddress
	}
	if c.ClusterIssuerAmbientCredentials == nil {
		c.ClusterIssuerAmbientCredentials = ptr.To(false)
	}
	if len(c.Controllers) == 0 {
		c.Controllers = []string{"*"}
	}
}

// applyFlags overrides the configuration with each flag set on the command
// line.
func applyFlags(cfg *config.ControllerConfiguration, flags *flag.FlagSet, v *flagValues) error {
	flags.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "kubeconfig":
			cfg.KubeConfig = v.kubeconfig
		case "namespace":
			cfg.Namespace = v.namespace
		case "cluster-resource-namespace":
			cfg.ClusterResourceNamespace = v.clusterResourceNamespace
		case "controllers":
			cfg.Controllers = splitList(v.controllers)
		case "metrics-listen-address":
			cfg.MetricsListenAddress = v.metricsAddress
		case "healthz-listen-address":
			cfg.HealthzListenAddress = v.healthzAddress
		case "concurrent-workers":
			cfg.NumberOfConcurrentWorkers = v.workers
		case "max-concurrent-challenges":
			cfg.MaxConcurrentChallenges = v.maxChallenges
		case "certificate-request-minimum-backoff-duration":
			cfg.CertificateRequestMinimumBackoffDuration = v.minBackoff
		case "certificate-request-maximum-backoff-duration":
			cfg.CertificateRequestMaximumBackoffDuration = v.maxBackoff
		case "dns01-recursive-nameservers":
			cfg.ACMEDNS01Config.RecursiveNameservers = splitList(v.dns01Nameservers)
		case "dns01-recursive-nameservers-only":
			cfg.ACMEDNS01Config.RecursiveNameserversOnly = v.dns01NameserversOnly
		case "dns01-check-retry-period":
			cfg.ACMEDNS01Config.CheckRetryPeriod = v.dns01CheckRetryPeriod
		case "enable-gateway-api":
			cfg.GatewayAPIConfig.Enabled = v.enableGatewayAPI
			cfg.EnableGatewayAPI = v.enableGatewayAPI
		case "v":
			cfg.Logging.Verbosity = logsapi.VerbosityLevel(v.verbosity)
		}
	})
	if cfg.NumberOfConcurrentWorkers < 1 {
		return fmt.Errorf("invalid numberOfConcurrentWorkers %d: set it to 1 or more", cfg.NumberOfConcurrentWorkers)
	}
	return nil
}

// validateConfig checks the configuration with cert-manager's validation
// and certwave's limits, and returns the controllers to run.
func validateConfig(cfg *config.ControllerConfiguration) ([]string, error) {
	if errs := validation.ValidateControllerConfiguration(cfg, field.NewPath("config")); len(errs) > 0 {
		return nil, fmt.Errorf("invalid controller configuration: %w", errs.ToAggregate())
	}
	if cfg.LeaderElectionConfig.Enabled {
		return nil, errors.New("invalid leaderElectionConfig.enabled: true: certwave's controller never runs leader election; set it to false or remove it")
	}
	return enabledControllers(cfg.Controllers)
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// enabledControllers resolves a controllers list: "*" adds the rehearsal
// set, "name" adds one controller and "-name" removes one.
func enabledControllers(list []string) ([]string, error) {
	var enabled []string
	for _, name := range list {
		if name == "*" {
			enabled = append(enabled, rehearsalControllers...)
			continue
		}
		if strings.HasPrefix(name, "-") {
			continue
		}
		if strings.Contains(name, "venafi") {
			return nil, fmt.Errorf("invalid controller %q: the venafi issuer is not built into certwave's controller; remove it from controllers", name)
		}
		enabled = append(enabled, name)
	}
	for _, name := range list {
		if removed, ok := strings.CutPrefix(name, "-"); ok {
			enabled = slices.DeleteFunc(enabled, func(n string) bool { return n == removed })
		}
	}
	slices.Sort(enabled)
	enabled = slices.Compact(enabled)
	if len(enabled) == 0 {
		return nil, fmt.Errorf("invalid controllers %q: no controller left to run; add \"*\" for the rehearsal set", list)
	}
	return enabled, nil
}
