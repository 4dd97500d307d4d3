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
