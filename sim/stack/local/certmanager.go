package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

// startCertManager writes the controller's configuration file and starts
// certwave's cert-manager controller against the stack's kube-apiserver,
// waiting for its /livez endpoint.
func (s *Stack) startCertManager(ctx context.Context, cm CertManagerOptions) error {
	healthzAddress, err := freeAddress()
	if err != nil {
		return err
	}
	configPath := filepath.Join(s.dir, "cert-manager-controller.json")
	data, err := json.MarshalIndent(controllerConfiguration(cm, s.kubeconfig, s.opts.ClusterResourceNamespace, healthzAddress), "", "  ")
	if err != nil {
		return fmt.Errorf("encode the cert-manager configuration: %w", err)
	}
	if err := os.WriteFile(configPath, data, 0o600); err != nil {
		return fmt.Errorf("write the cert-manager configuration: %w", err)
	}

	args := append([]string{"--config", configPath}, cm.ExtraArgs...)
	_, err = s.StartProcess(ctx, ProcessSpec{
		Name: "cert-manager-controller",
		Path: s.opts.Binaries.CertManagerController,
		Args: args,
		Ready: func(ctx context.Context) error {
			return httpOK(ctx, http.DefaultClient, "http://"+healthzAddress+"/livez", "")
		},
	})
	return err
}

// controllerConfiguration returns a cert-manager ControllerConfiguration
// (controller.config.cert-manager.io/v1alpha1). JSON is valid YAML, so the
// controller reads it as its configuration file. Unset fields keep the
// defaults of certwave's controller: no leader election, no metrics server
// and the rehearsal set of controllers.
func controllerConfiguration(cm CertManagerOptions, kubeconfig, clusterResourceNamespace, healthzAddress string) map[string]any {
	config := map[string]any{
		"apiVersion":               "controller.config.cert-manager.io/v1alpha1",
		"kind":                     "ControllerConfiguration",
		"kubeConfig":               kubeconfig,
		"clusterResourceNamespace": clusterResourceNamespace,
		"leaderElectionConfig":     map[string]any{"enabled": false},
		"healthzListenAddress":     healthzAddress,
		"gatewayAPI":               map[string]any{"enabled": !cm.DisableGatewayAPI},
		// cert-manager logs its progress at verbosity 2, the level its Helm
		// chart sets.
		"logging": map[string]any{"format": "text", "verbosity": 2},
	}
	if cm.Workers > 0 {
		config["numberOfConcurrentWorkers"] = cm.Workers
	}
	if cm.MinimumBackoff > 0 {
		config["certificateRequestMinimumBackoffDuration"] = cm.MinimumBackoff.String()
	}
	if cm.MaximumBackoff > 0 {
		config["certificateRequestMaximumBackoffDuration"] = cm.MaximumBackoff.String()
	}
	dns01 := map[string]any{}
	if len(cm.DNS01RecursiveNameservers) > 0 {
		dns01["recursiveNameservers"] = cm.DNS01RecursiveNameservers
	}
	if cm.DNS01RecursiveNameserversOnly {
		dns01["recursiveNameserversOnly"] = true
	}
	if cm.DNS01CheckRetryPeriod > 0 {
		dns01["checkRetryPeriod"] = cm.DNS01CheckRetryPeriod.String()
	}
	if len(dns01) > 0 {
		config["acmeDNS01Config"] = dns01
	}
	return config
}
