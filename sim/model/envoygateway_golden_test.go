package model

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/certwave/certwave/hack/envoygateway-goldens/golden"
	"github.com/certwave/certwave/topology"
)

// envoyGatewayCases contains one folder per topology: manifests.yaml,
// certificates.yaml and the generated secrets.yaml and golden.yaml. `make
// envoygateway-goldens` rewrites the goldens with Envoy Gateway v1.9.1.
const envoyGatewayCases = "testdata/envoygateway"

// knownEnvoyGatewayDifferences lists where the gateway model disagrees with
// Envoy Gateway v1.9.1, keyed by "case: object field" (the case folder and
// golden.Difference.ID), with the reason. Any difference not listed fails
// the test, and so does a listed one that no longer occurs. The model
// agrees on every case now. A new entry needs a reason that names the
// Envoy Gateway function the model does not follow.
var knownEnvoyGatewayDifferences = map[string]string{}

// TestGatewayModelMatchesEnvoyGateway builds each case's objects in a model
// world and compares the listener and route conditions the model writes
// with the ones Envoy Gateway's translator computed for the same objects.
func TestGatewayModelMatchesEnvoyGateway(t *testing.T) {
	dirs, err := golden.CaseDirs(envoyGatewayCases)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	ran := map[string]bool{}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			t.Log(golden.Description(dir))
			want := readGolden(t, dir)
			got := modelStatus(t, dir)
			ran[name] = true
			agree := true
			for _, d := range golden.Compare(want, got) {
				id := name + ": " + d.ID()
				if reason, ok := knownEnvoyGatewayDifferences[id]; ok {
					seen[id] = true
					t.Logf("known difference %s (%s)", d, reason)
					continue
				}
				agree = false
				t.Errorf("new difference %q: Envoy Gateway %s, model %s", id, d.Want, d.Got)
			}
			if agree {
				t.Log("the model agrees with Envoy Gateway, apart from the known differences above")
			}
		})
	}

	cases := map[string]bool{}
	for _, dir := range dirs {
		cases[filepath.Base(dir)] = true
	}
	var stale []string
	for id := range knownEnvoyGatewayDifferences {
		if !cases[caseOfDifference(id)] {
			t.Errorf("known difference %q names no case folder in %s", id, envoyGatewayCases)
			continue
		}
		if !seen[id] && ran[caseOfDifference(id)] {
			stale = append(stale, id)
		}
	}
	sort.Strings(stale)
	for _, id := range stale {
		t.Errorf("known difference %q no longer occurs: remove it from knownEnvoyGatewayDifferences", id)
	}
}

// caseOfDifference returns the case name of a knownEnvoyGatewayDifferences
// key.
func caseOfDifference(id string) string {
	name, _, _ := strings.Cut(id, ":")
	return name
}

// readGolden reads a case's golden.yaml and checks that it was generated
// from the case's current manifests and Secrets, and the Secrets from the
// current certificates.yaml.
func readGolden(t *testing.T, dir string) golden.Status {
	t.Helper()
	path := filepath.Join(dir, golden.GoldenFile)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("missing golden file %s: run `make envoygateway-goldens` (needs `hack/components.sh egctl`)", path)
	}
	if _, err := os.Stat(filepath.Join(dir, golden.CertificatesFile)); err == nil {
		line, err := golden.SecretsInputHashLine(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !golden.HasLine(filepath.Join(dir, golden.SecretsFile), line) {
			t.Fatalf("%s was not generated from the current %s (its hash line differs): run `make envoygateway-goldens`", golden.SecretsFile, golden.CertificatesFile)
		}
	}
	line, err := golden.GoldenInputHashLine(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !golden.HasLine(path, line) {
		t.Fatalf("%s was not generated from the current %s and %s (its hash line differs): run `make envoygateway-goldens`", path, golden.ManifestsFile, golden.SecretsFile)
	}
	want, err := golden.ReadStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// modelStatus creates a case's objects in an empty model world through
// its client, lets the controllers settle and reduces the Gateway and
// HTTPRoute status they wrote.
func modelStatus(t *testing.T, dir string) golden.Status {
	t.Helper()
	objects, err := golden.ReadCaseObjects(dir)
	if err != nil {
		t.Fatal(err)
	}
	inv := &topology.Inventory{Source: "envoygateway-golden:" + filepath.Base(dir)}
	w, err := New(inv, Options{Seed: 1, Start: testStart, EnvoyGatewayVersion: "1.9"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	ctx := context.Background()
	// Namespaces first, as kubectl apply orders them.
	sort.SliceStable(objects, func(i, j int) bool {
		_, iNamespace := objects[i].(*corev1.Namespace)
		_, jNamespace := objects[j].(*corev1.Namespace)
		return iNamespace && !jNamespace
	})
	for _, obj := range objects {
		if grant, ok := obj.(*gwapiv1beta1.ReferenceGrant); ok {
			// Envoy Gateway v1.9.1 reads ReferenceGrants of v1beta1; the
			// model serves the same type as gateway.networking.k8s.io/v1.
			obj = (*gwapiv1.ReferenceGrant)(grant)
		}
		if _, ok := obj.(*corev1.Namespace); ok && namespaceExists(w, obj.GetName()) {
			continue
		}
		if err := w.Client().Create(ctx, obj, client.FieldOwner("kubectl")); err != nil {
			t.Fatalf("create %T %s/%s in the model: %v", obj, obj.GetNamespace(), obj.GetName(), err)
		}
	}

	var gateways gwapiv1.GatewayList
	if err := w.Client().List(ctx, &gateways); err != nil {
		t.Fatalf("list Gateways: %v", err)
	}
	var routes gwapiv1.HTTPRouteList
	if err := w.Client().List(ctx, &routes); err != nil {
		t.Fatalf("list HTTPRoutes: %v", err)
	}
	return golden.Reduce(gateways.Items, routes.Items)
}

// namespaceExists reports whether a Namespace exists. The model world
// creates cert-manager's namespace itself.
func namespaceExists(w *World, name string) bool {
	var ns corev1.Namespace
	return w.Client().Get(context.Background(), client.ObjectKey{Name: name}, &ns) == nil
}
