// Package kubecluster reads what certwave needs from a real cluster: the
// REST configuration of a kubeconfig context, the ACME events of
// cert-manager's Orders and the private CA's roots. certwave run and the
// harness's cluster world share it.
package kubecluster

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Load reads the kubeconfig file and returns the REST configuration of
// contextName, or of the current context when contextName is empty, with
// the name of the context it uses.
func Load(kubeconfig, contextName string) (*rest.Config, string, error) {
	if _, err := os.Stat(kubeconfig); err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: contextName})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, "", fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
	}
	name := raw.CurrentContext
	if contextName != "" {
		name = contextName
	}
	if _, ok := raw.Contexts[name]; !ok {
		names := slices.Sorted(maps.Keys(raw.Contexts))
		if len(names) == 0 {
			return nil, "", fmt.Errorf("context %q not found in kubeconfig %s, which has no contexts", name, kubeconfig)
		}
		return nil, "", fmt.Errorf("context %q not found in kubeconfig %s: use one of %s", name, kubeconfig, strings.Join(names, ", "))
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s, context %s: %w", kubeconfig, name, err)
	}
	return cfg, name, nil
}

// ReachTimeout bounds CheckReachable's request.
const ReachTimeout = 15 * time.Second

// CheckReachable requests the API server's version once, so that a
// command on a cluster it cannot reach fails at once with one clear error
// instead of after its retries. name and kubeconfig name the context in
// the error.
func CheckReachable(cfg *rest.Config, name, kubeconfig string) error {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = ReachTimeout
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("context %s of kubeconfig %s: %w", name, kubeconfig, err)
	}
	if _, err := dc.ServerVersion(); err != nil {
		return fmt.Errorf("cannot reach the API server %s of context %s (kubeconfig %s): %w; "+
			"check that the cluster runs and that this machine can connect to it", cfg.Host, name, kubeconfig, err)
	}
	return nil
}
