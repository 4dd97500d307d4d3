package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBinariesCheckNamesMakeComponents(t *testing.T) {
	dir := t.TempDir()
	binaries := DefaultBinaries(dir)

	err := binaries.Check()
	var missing *MissingBinariesError
	if !errors.As(err, &missing) {
		t.Fatalf("Check() = %v, expected a *MissingBinariesError", err)
	}
	if len(missing.Paths) != 4 {
		t.Errorf("missing paths = %v, expected all 4 binaries", missing.Paths)
	}
	if !strings.Contains(err.Error(), "make components") {
		t.Errorf("error %q does not name `make components` as the fix", err)
	}
	if !strings.Contains(err.Error(), binaries.CertManagerController) {
		t.Errorf("error %q does not name %s", err, binaries.CertManagerController)
	}
}

func TestDefaultBinariesFollowCacheLayout(t *testing.T) {
	binaries := DefaultBinaries("/cache")

	if got, expected := binaries.CertManagerController, "/cache/cert-manager-controller-v1.21.2/cert-manager-controller"; got != expected {
		t.Errorf("CertManagerController = %s, expected %s", got, expected)
	}
	if got, expected := binaries.KubeAPIServer, "/cache/kube-apiserver-v1.36.2/kube-apiserver"; got != expected {
		t.Errorf("KubeAPIServer = %s, expected %s", got, expected)
	}
	if got, expected := binaries.Etcd, "/cache/etcd-v3.6.17/etcd"; got != expected {
		t.Errorf("Etcd = %s, expected %s", got, expected)
	}
}

// fakeBinaries writes one shell script and uses it for every binary.
func fakeBinaries(t *testing.T, script string) Binaries {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-server")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Binaries{Etcd: path, KubeAPIServer: path, KubeControllerManager: path, CertManagerController: path}
}

func TestStartReportsServerThatExits(t *testing.T) {
	binaries := fakeBinaries(t, "echo 'listen failed: address in use' >&2; exit 3")
	dir := t.TempDir()

	_, err := Start(context.Background(), Options{Binaries: binaries, Dir: dir, StartTimeout: 10 * time.Second})
	if err == nil {
		t.Fatal("Start() succeeded with a server that exits at once")
	}
	if !strings.Contains(err.Error(), "etcd exited before it was ready") {
		t.Errorf("error %q does not say that etcd exited", err)
	}
	if !strings.Contains(err.Error(), "listen failed: address in use") {
		t.Errorf("error %q does not quote the server log", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "etcd.log")); statErr != nil {
		t.Errorf("etcd.log not kept after a failed start: %v", statErr)
	}
}

func TestStartKillsServerThatIgnoresSIGTERM(t *testing.T) {
	// exec keeps the ignored SIGTERM for sleep, so only SIGKILL ends it.
	binaries := fakeBinaries(t, "trap '' TERM; exec sleep 60")

	start := time.Now()
	_, err := Start(context.Background(), Options{
		Binaries:     binaries,
		Dir:          t.TempDir(),
		StartTimeout: time.Second,
		StopTimeout:  200 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("Start() succeeded with a server that never becomes ready")
	}
	if !strings.Contains(err.Error(), "etcd not ready after 1s") {
		t.Errorf("error %q does not report the start timeout", err)
	}
	if !strings.Contains(err.Error(), "killed") {
		t.Errorf("error %q does not report the SIGKILL", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Start() took %s to fail, expected about 1.2s", elapsed)
	}
}

func TestControllerConfigurationMapsOptions(t *testing.T) {
	options := CertManagerOptions{
		Workers:                       12,
		MinimumBackoff:                90 * time.Second,
		MaximumBackoff:                45 * time.Minute,
		DNS01RecursiveNameservers:     []string{"127.0.0.1:5353"},
		DNS01RecursiveNameserversOnly: true,
	}

	config := controllerConfiguration(options, "/k/kubeconfig", "cert-manager", "127.0.0.1:9403")

	if got := config["kind"]; got != "ControllerConfiguration" {
		t.Errorf("kind = %v, expected ControllerConfiguration", got)
	}
	if got := config["numberOfConcurrentWorkers"]; got != 12 {
		t.Errorf("numberOfConcurrentWorkers = %v, expected 12", got)
	}
	if got := config["certificateRequestMinimumBackoffDuration"]; got != "1m30s" {
		t.Errorf("certificateRequestMinimumBackoffDuration = %v, expected 1m30s", got)
	}
	if got := config["certificateRequestMaximumBackoffDuration"]; got != "45m0s" {
		t.Errorf("certificateRequestMaximumBackoffDuration = %v, expected 45m0s", got)
	}
	if got := config["gatewayAPI"].(map[string]any)["enabled"]; got != true {
		t.Errorf("gatewayAPI.enabled = %v, expected true", got)
	}
	if got := config["leaderElectionConfig"].(map[string]any)["enabled"]; got != false {
		t.Errorf("leaderElectionConfig.enabled = %v, expected false", got)
	}
	dns01 := config["acmeDNS01Config"].(map[string]any)
	if got := dns01["recursiveNameservers"]; !slices.Equal(got.([]string), []string{"127.0.0.1:5353"}) {
		t.Errorf("acmeDNS01Config.recursiveNameservers = %v, expected [127.0.0.1:5353]", got)
	}
	if got := dns01["recursiveNameserversOnly"]; got != true {
		t.Errorf("acmeDNS01Config.recursiveNameserversOnly = %v, expected true", got)
	}
}

func TestReadCRDsFromModuleCache(t *testing.T) {
	if testing.Short() {
		t.Skip("runs `go mod download`; skipped with -short")
	}
	var names []string
	for _, source := range crdSources {
		dir, err := moduleDir(context.Background(), source.module, moduleVersion(source.module, source.version))
		if err != nil {
			t.Fatalf("moduleDir(%s): %v", source.module, err)
		}
		crds, err := readCRDs(filepath.Join(dir, source.dir))
		if err != nil {
			t.Fatalf("readCRDs(%s): %v", source.module, err)
		}
		for _, crd := range crds {
			names = append(names, crd.GetName())
		}
	}

	for _, expected := range []string{
		"gateways.gateway.networking.k8s.io",
		"httproutes.gateway.networking.k8s.io",
		"certificates.cert-manager.io",
		"clusterissuers.cert-manager.io",
		"orders.acme.cert-manager.io",
		"challenges.acme.cert-manager.io",
	} {
		if !slices.Contains(names, expected) {
			t.Errorf("CRD %s not found; read %v", expected, names)
		}
	}
}
