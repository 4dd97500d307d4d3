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

// Reasons of the known differences. The Envoy Gateway function names refer
// to internal/gatewayapi in github.com/envoyproxy/gateway v1.9.1.
const (
	reasonRouteRulesOverlap = "the model does not write RouteRulesOverlap, which checkRouteOverlaps sets on routes with the same hostname and matches on one listener"
	reasonHostnameClaimed   = "computeHosts drops route hostnames that another listener on the same port names exactly, so this listener does not bind them, but the model binds them and isolates hostnames only in the data plane"
	reasonOverlapChain      = "checkOverlappingHostnames and checkOverlappingCertificates keep pairing the first listener with every later overlapping one, but markOverlaps stops after the first pair"
	reasonOverlapInvalid    = "Envoy Gateway leaves listeners with an invalid condition out of the overlap checks, but markOverlaps includes listeners whose Secret is missing"
	reasonNoReferenceGrant  = "the model has no ReferenceGrant kind, so a certificateRef to another namespace is always RefNotPermitted"
	reasonAcceptedOmitted   = "validateListenerConditions sets Accepted=True only on a listener without conditions or whose only condition is ResolvedRefs InvalidCertificateRef or PartiallyInvalidCertificateRef, but the model always writes Accepted=True"
	reasonHostnameConflict  = "Envoy Gateway reports HostnameConflict for an HTTPS and a TLS listener with one port and hostname, but the model's conflict key includes the protocol"
	reasonProtocolConflict  = "Envoy Gateway reports ProtocolConflict for HTTP and HTTPS listeners on one port, but the model has no protocol conflict"
	reasonCertificateExpiry = "Envoy Gateway rejects a certificate outside its validity at translation time (validateCertBlock), but the model does not check validity for listeners"
	reasonSecretType        = "Envoy Gateway requires Secret type kubernetes.io/tls, but the model reads tls.crt and tls.key of a Secret of any type"
	reasonPartiallyInvalid  = "Envoy Gateway programs a listener with its valid certificateRefs and reports PartiallyInvalidCertificateRef, but the model fails the listener at the first invalid ref"
)

// knownEnvoyGatewayDifferences lists where the gateway model disagrees with
// Envoy Gateway v1.9.1, keyed by "case: object field" (the case folder and
// golden.Difference.ID), with the reason. Any difference not listed fails
// the test, and so does a listed one that no longer occurs.
var knownEnvoyGatewayDifferences = map[string]string{
	"allowed-routes-all: HTTPRoute apps/app parent infra/edge#https-app RouteRulesOverlap":        reasonRouteRulesOverlap,
	"allowed-routes-all: HTTPRoute infra/app-local parent infra/edge#https-app RouteRulesOverlap": reasonRouteRulesOverlap,

	"broken-specific-next-to-wildcard: Gateway infra/edge listener https attachedRoutes":               reasonHostnameClaimed,
	"broken-specific-next-to-wildcard: HTTPRoute apps/grafana-old parent infra/edge#https Accepted":    reasonHostnameClaimed,
	"broken-specific-next-to-wildcard: Gateway infra/edge listener https OverlappingTLSConfig":         reasonOverlapInvalid,
	"broken-specific-next-to-wildcard: Gateway infra/edge listener https-grafana OverlappingTLSConfig": reasonOverlapInvalid,

	"cross-namespace-secret-with-grant: Gateway infra/edge listener https-app Programmed":   reasonNoReferenceGrant,
	"cross-namespace-secret-with-grant: Gateway infra/edge listener https-app ResolvedRefs": reasonNoReferenceGrant,

	"cross-namespace-secret-without-grant: Gateway infra/edge listener https-app Accepted": reasonAcceptedOmitted,

	"duplicate-hostname: Gateway infra/edge listener https-app Conflicted":     reasonHostnameConflict,
	"duplicate-hostname: Gateway infra/edge listener https-app Programmed":     reasonHostnameConflict,
	"duplicate-hostname: Gateway infra/edge listener https-app Accepted":       reasonAcceptedOmitted,
	"duplicate-hostname: Gateway infra/edge listener https-app attachedRoutes": reasonHostnameClaimed,
	"duplicate-hostname: Gateway infra/edge listener tls-app Conflicted":       reasonHostnameConflict,
	"duplicate-hostname: Gateway infra/edge listener tls-app Programmed":       reasonHostnameConflict,
	"duplicate-hostname: Gateway infra/edge listener tls-app Accepted":         reasonAcceptedOmitted,
	"duplicate-hostname: HTTPRoute apps/app parent infra/edge Accepted":        reasonHostnameClaimed,

	"expired-certificate: Gateway infra/edge listener https-app Programmed":   reasonCertificateExpiry,
	"expired-certificate: Gateway infra/edge listener https-app ResolvedRefs": reasonCertificateExpiry,

	"http-and-https-listeners: HTTPRoute apps/app parent infra/edge RouteRulesOverlap":               reasonRouteRulesOverlap,
	"http-and-https-listeners: HTTPRoute apps/app-redirect parent infra/edge#http RouteRulesOverlap": reasonRouteRulesOverlap,

	"no-section-name: Gateway infra/edge listener https attachedRoutes":           reasonHostnameClaimed,
	"no-section-name: Gateway infra/edge listener https-api OverlappingTLSConfig": reasonOverlapChain,

	"overlapping-hostnames: Gateway infra/edge listener https-b OverlappingTLSConfig": reasonOverlapChain,

	"partially-invalid-certificate-refs: Gateway infra/edge listener https-app Programmed":   reasonPartiallyInvalid,
	"partially-invalid-certificate-refs: Gateway infra/edge listener https-app ResolvedRefs": reasonPartiallyInvalid,

	"protocol-conflict: Gateway infra/edge listener http-443 Conflicted":  reasonProtocolConflict,
	"protocol-conflict: Gateway infra/edge listener http-443 Programmed":  reasonProtocolConflict,
	"protocol-conflict: Gateway infra/edge listener http-443 Accepted":    reasonAcceptedOmitted,
	"protocol-conflict: Gateway infra/edge listener https-app Conflicted": reasonProtocolConflict,
	"protocol-conflict: Gateway infra/edge listener https-app Programmed": reasonProtocolConflict,
	"protocol-conflict: Gateway infra/edge listener https-app Accepted":   reasonAcceptedOmitted,

	"secret-opaque-type: Gateway infra/edge listener https-app Programmed":   reasonSecretType,
	"secret-opaque-type: Gateway infra/edge listener https-app ResolvedRefs": reasonSecretType,

	"shared-wildcard-secret: Gateway infra/edge listener https-c OverlappingTLSConfig": reasonOverlapChain,

	"wildcard-and-specific-listener: Gateway infra/edge listener https attachedRoutes":                reasonHostnameClaimed,
	"wildcard-and-specific-listener: HTTPRoute apps/app-on-wildcard parent infra/edge#https Accepted": reasonHostnameClaimed,
}

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
//
// NOTE: the model's scheme has no ReferenceGrant kind, so the test drops
// ReferenceGrants, and a case that depends on one shows a difference.
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
		if _, ok := obj.(*gwapiv1beta1.ReferenceGrant); ok {
			t.Logf("ReferenceGrant %s/%s left out: the model has no ReferenceGrant kind", obj.GetNamespace(), obj.GetName())
			continue
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
