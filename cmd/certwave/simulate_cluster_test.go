package main

import (
	"os"
	"path/filepath"
	"slices"
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

// TestSimulateClusterUnreachable checks that a suite on a cluster whose
// API server refuses connections fails once, before any scenario runs.
func TestSimulateClusterUnreachable(t *testing.T) {
	clearClusterEnv(t)
	path := kindKubeconfig(t)
	out, err := runCLI(t, "simulate", "--world", "cluster", "--kubeconfig", path, "--disposable-context", "kind-test",
		"--time-scale", "1000", "--scenario", "local-smoke", "--scenario", "reference-hybrid")
	if err == nil {
		t.Fatalf("simulate on an unreachable cluster succeeded:\n%s", out)
	}
	if want := "cannot reach the API server https://127.0.0.1:1 of context kind-test"; !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it to contain %q", err, want)
	}
	if code := exitCode(err); code != exitError {
		t.Errorf("exit code = %d, want %d", code, exitError)
	}
	if out != "" {
		t.Errorf("scenarios ran on an unreachable cluster:\n%s", out)
	}
}

// TestSimulateReplayRepeatsClusterFlags checks the flags a cluster
// world's replay command repeats: those of the cluster given on the
// command line, quoted for a shell, and no others.
func TestSimulateReplayRepeatsClusterFlags(t *testing.T) {
	cmd := newSimulateCommand()
	if err := cmd.ParseFlags([]string{"--world", "cluster", "--kubeconfig", "my kind.yaml", "--context", "kind-test",
		"--disposable-context", "kind-test", "--time-scale", "100", "--seed", "3"}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(flagArgs(cmd, func(name string) bool { return slices.Contains(clusterFlagNames, name) }), " ")
	want := "--context kind-test --disposable-context kind-test --kubeconfig 'my kind.yaml' --time-scale 100"
	if got != want {
		t.Errorf("replay flags = %q, want %q", got, want)
	}
}

// TestCommandsFailOnceOnUnreachableCluster checks that run, status and
// inventory stop with one error, before any retry, when the API server
// refuses connections.
func TestCommandsFailOnceOnUnreachableCluster(t *testing.T) {
	path := kindKubeconfig(t)
	planFile := filepath.Join(t.TempDir(), "plan.yaml")
	if _, err := runCLI(t, "plan", "--reference", "--out", planFile); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"run", "--kubeconfig", path, "--context", "kind-test", "--plan", planFile},
		{"status", "--kubeconfig", path, "--context", "kind-test", "--plan", planFile},
		{"inventory", "--kubeconfig", path, "--context", "kind-test"},
	} {
		_, err := runCLI(t, args...)
		if err == nil {
			t.Fatalf("%s on an unreachable cluster succeeded", args[0])
		}
		if want := "cannot reach the API server https://127.0.0.1:1 of context kind-test"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", args[0], err, want)
		}
		if code := exitCode(err); code != exitError {
			t.Errorf("%s: exit code %d, want %d", args[0], code, exitError)
		}
	}
}
