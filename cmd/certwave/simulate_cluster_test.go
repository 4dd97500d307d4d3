package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/certwave/certwave/harness"
)

// kindKubeconfig writes a kubeconfig whose current context kind-test
// points at a port where no API server listens, and returns its path.
func kindKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"kind": {Server: "https://127.0.0.1:1"}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"admin": {Token: "test"}},
		Contexts:       map[string]*clientcmdapi.Context{"kind-test": {Cluster: "kind", AuthInfo: "admin"}},
		CurrentContext: "kind-test",
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// clearClusterEnv unsets the cluster world's variables for the test.
func clearClusterEnv(t *testing.T) {
	for _, name := range []string{harness.EnvKubeconfig, harness.EnvContext, harness.EnvDisposableContext,
		harness.EnvClusterTimeScale, harness.EnvClusterKeep, harness.EnvClusterAddresses, harness.EnvClusterRoots} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
}

func TestSimulateClusterFlags(t *testing.T) {
	clearClusterEnv(t)
	path := kindKubeconfig(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{name: "cluster flag on the model", args: []string{"--kubeconfig", path}, want: "apply only with --world cluster"},
		{name: "no kubeconfig", args: []string{"--world", "cluster"}, want: harness.EnvKubeconfig},
		{name: "no opt-in", args: []string{"--world", "cluster", "--kubeconfig", path}, want: "--disposable-context kind-test"},
		{name: "opt-in for another context", args: []string{"--world", "cluster", "--kubeconfig", path, "--disposable-context", "prod"},
			want: `the disposable context is "prod", but the context in use is "kind-test"`},
		{name: "invalid address", args: []string{"--world", "cluster", "--kubeconfig", path, "--disposable-context", "kind-test", "--address", "direct"},
			want: "invalid --address"},
		{name: "saved plan", args: []string{"--world", "cluster", "--kubeconfig", path, "--disposable-context", "kind-test", "--plan", "plan.yaml"},
			want: "--plan with --world cluster is not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCLI(t, append([]string{"simulate", "--scenario", "local-smoke"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("simulate %v: %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestSimulateClusterUnsupportedOffline runs a scenario on the cluster
// world that its needs rule out before the world connects, so it ends
// unsupported without an API server.
func TestSimulateClusterUnsupportedOffline(t *testing.T) {
	clearClusterEnv(t)
	path := kindKubeconfig(t)
	out, err := runCLI(t, "simulate", "--world", "cluster", "--kubeconfig", path, "--disposable-context", "kind-test", "--scenario", "local-smoke")
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	if !strings.Contains(out, "UNSUPPORTED local-smoke: in world cluster: wall-hours") {
		t.Errorf("output does not report local-smoke unsupported for wall-hours:\n%s", out)
	}
}
