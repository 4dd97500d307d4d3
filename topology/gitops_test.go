package topology

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func loadTestTree(t *testing.T, name string, vars map[string]string) *Inventory {
	t.Helper()
	inv, err := LoadGitOps(filepath.Join("testdata", "gitops", name), GitOpsOptions{Vars: vars})
	if err != nil {
		t.Fatalf("LoadGitOps(%s): %v", name, err)
	}
	return inv
}

// loadTestTreeError loads a tree that must fail and checks that the error
// holds every part.
func loadTestTreeError(t *testing.T, name string, parts ...string) {
	t.Helper()
	_, err := LoadGitOps(filepath.Join("testdata", "gitops", name), GitOpsOptions{})
	if err == nil {
		t.Fatalf("LoadGitOps(%s) succeeded, want an error", name)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}

func TestGitOpsMissingInclude(t *testing.T) {
	loadTestTreeError(t, "missing-include", "kubernetes/apps/kustomization.yaml:5:", "./absent.yaml", "not found")
}

func TestGitOpsKustomizeCycle(t *testing.T) {
	loadTestTreeError(t, "cycle", "kubernetes/apps/loop/kustomization.yaml:4:", "cycle", "kubernetes/apps -> kubernetes/apps/loop -> kubernetes/apps")
}

func TestGitOpsFluxCycle(t *testing.T) {
	loadTestTreeError(t, "flux-cycle", "kubernetes/apps/ks.yaml:10:", "Flux Kustomization cycle")
}

func TestGitOpsMalformedYAML(t *testing.T) {
	// Line 9 is indented one space less than the listener it belongs to.
	loadTestTreeError(t, "malformed", "kubernetes/apps/broken.yaml:9:", "invalid YAML")
}

func TestGitOpsUndefinedVariable(t *testing.T) {
	loadTestTreeError(t, "undefined-var", "kubernetes/apps/route.yaml:10:", "variable SECRET_DOMAIN is not set", "--set SECRET_DOMAIN=VALUE")
}

func TestGitOpsUndefinedVariableSetOnCommandLine(t *testing.T) {
	// ${EMAIL} sits in an annotation the inventory never reads.
	inv := loadTestTree(t, "undefined-var", map[string]string{"SECRET_DOMAIN": "example.net"})
	r := inv.Route("web", "shop")
	if r == nil || !reflect.DeepEqual(r.Hostnames, []string{"shop.example.net"}) {
		t.Fatalf("route web/shop = %+v, want hostname shop.example.net", r)
	}
	want := []ParentRef{{Namespace: "web", Name: "external"}}
	if !reflect.DeepEqual(r.ParentRefs, want) {
		t.Errorf("parentRefs = %+v, want %+v (namespace defaults to the route's)", r.ParentRefs, want)
	}
}

func TestGitOpsFolderWithoutKustomization(t *testing.T) {
	loadTestTreeError(t, "no-kustomization", "kubernetes/apps/kustomization.yaml:4:", "kubernetes/apps/plain", "no kustomization.yaml")
}

func TestGitOpsNoFluxFolder(t *testing.T) {
	_, err := LoadGitOps(t.TempDir(), GitOpsOptions{})
	if err == nil || !strings.Contains(err.Error(), "kubernetes/flux") {
		t.Errorf("error = %v, want one naming kubernetes/flux", err)
	}
}

func TestGitOpsKubernetesFolderAsDir(t *testing.T) {
	inv := loadTestTree(t, filepath.Join("basic", "kubernetes"), nil)
	if len(inv.Gateways) != 1 {
		t.Fatalf("got %d Gateways, want 1", len(inv.Gateways))
	}
	if got := inv.Gateways[0].Origin.File; got != "apps/network/app/gateway.yaml" {
		t.Errorf("origin file = %q, want a path relative to the kubernetes folder", got)
	}
}

func TestGitOpsNamespaceOverrides(t *testing.T) {
	inv := loadTestTree(t, "basic", nil)
	// gateway.yaml sets written-namespace, its kustomization sets
	// kustomize-namespace, and the Flux targetNamespace sets network.
	if g := inv.Gateway("network", "external"); g == nil {
		t.Errorf("Gateway network/external missing; got %+v", inv.Gateways)
	}
	// web/app has no targetNamespace, so its kustomization's namespace holds.
	if r := inv.Route("web", "docs"); r == nil {
		t.Errorf("route web/docs missing; got %+v", inv.Routes)
	}
	// The ClusterIssuer stays cluster-scoped under both overrides.
	if len(inv.Issuers) != 1 || inv.Issuers[0].Namespace != "" {
		t.Errorf("issuers = %+v, want one cluster-scoped ClusterIssuer", inv.Issuers)
	}
}

func TestGitOpsDefaultVariables(t *testing.T) {
	inv := loadTestTree(t, "basic", nil)
	if r := inv.Route("web", "docs"); r == nil || r.Hostnames[0] != "docs.example.org" {
		t.Errorf("web/docs = %+v, want ${DOCS_HOST:-docs} to give docs.example.org", r)
	}
	inv = loadTestTree(t, "basic", map[string]string{"DOCS_HOST": "manual"})
	if r := inv.Route("web", "docs"); r == nil || r.Hostnames[0] != "manual.example.org" {
		t.Errorf("web/docs = %+v, want --set DOCS_HOST=manual to give manual.example.org", r)
	}
}

func TestGitOpsCommandLineOverridesTree(t *testing.T) {
	inv := loadTestTree(t, "basic", map[string]string{"SECRET_DOMAIN": "example.com"})
	if inv.Domain != "example.com" {
		t.Errorf("Domain = %q, want example.com from --set", inv.Domain)
	}
	c := inv.Certificate("network", "wildcard")
	if c == nil || c.SecretName != "example-com-tls" {
		t.Errorf("Certificate = %+v, want secretName example-com-tls", c)
	}
}

func TestGitOpsSkippedKinds(t *testing.T) {
	inv := loadTestTree(t, "basic", nil)
	want := map[string]int{
		"ExternalSecret":              1,
		"Gateway.networking.istio.io": 1,
		"Deployment":                  1, // no apiVersion
		"(no kind)":                   1,
		"PersistentVolumeClaim":       1, // holds ${NFS_HOST_0}, which has no value
	}
	if !reflect.DeepEqual(inv.Skipped, want) {
		t.Errorf("Skipped = %v, want %v", inv.Skipped, want)
	}
	if inv.Gateway("disabled", "never") != nil {
		t.Error("Gateway disabled/never is read, but its folder is commented out")
	}
}

func TestGitOpsBasicCertificateAndIssuer(t *testing.T) {
	inv := loadTestTree(t, "basic", nil)
	c := inv.Certificate("network", "wildcard")
	if c == nil {
		t.Fatal("Certificate network/wildcard missing")
	}
	if c.Duration != 2160*time.Hour || c.RenewBefore != 720*time.Hour {
		t.Errorf("duration/renewBefore = %v/%v, want 2160h/720h", c.Duration, c.RenewBefore)
	}
	if m := inv.Secret("web", "example-org-tls"); m == nil || m.MirrorOf != "network/example-org-tls" {
		t.Errorf("mirror web/example-org-tls = %+v", m)
	}
	is := inv.Issuers[0]
	want := Issuer{
		Kind: "ClusterIssuer", Name: "letsencrypt", Type: IssuerACME,
		ACMEServer: "https://acme-v02.api.letsencrypt.org/directory", Profile: "tlsserver",
		Solvers: []string{"dns01/cloudflare", "http01/gatewayHTTPRoute"},
		Origin:  Origin{File: "kubernetes/apps/network/app/certificate.yaml", Line: 21},
	}
	if !reflect.DeepEqual(is, want) {
		t.Errorf("issuer = %+v, want %+v", is, want)
	}
	g := inv.Gateway("network", "external")
	if g.Annotations[AnnotationClusterIssuer] != "letsencrypt" || g.Class != "envoy" {
		t.Errorf("Gateway = %+v, want class envoy from cluster-config and the cluster-issuer annotation", g)
	}
}

func TestGitOpsAppTemplateRoutes(t *testing.T) {
	inv := loadTestTree(t, "basic", nil)
	type route struct {
		host, section string
		file          string
	}
	want := map[string]route{
		// Three enabled entries, so each name is <release>-<key>.
		"web/shop-main": {"shop.example.org", "https", "kubernetes/apps/web/app/helmrelease.yaml"},
		// ${ADMIN_HOST:-admin} falls back to its default.
		"web/shop-admin": {"admin.example.org", "", "kubernetes/apps/web/app/helmrelease.yaml"},
		// From the valuesFrom ConfigMap that configMapGenerator builds.
		"web/shop-api": {"api.example.org", "https", "kubernetes/apps/web/app/values.yaml"},
		"web/docs":     {"docs.example.org", "https", "kubernetes/apps/web/app/httproute.yaml"},
	}
	if len(inv.Routes) != len(want) {
		t.Errorf("got %d routes, want %d (old has enabled: false)", len(inv.Routes), len(want))
	}
	for _, r := range inv.Routes {
		w, ok := want[r.Key()]
		if !ok {
			t.Errorf("unexpected route %s", r.Key())
			continue
		}
		got := route{r.Hostnames[0], r.ParentRefs[0].SectionName, r.Origin.File}
		if got != w {
			t.Errorf("%s = %+v, want %+v", r.Key(), got, w)
		}
	}
}

func TestGitOpsCertManagerEnabled(t *testing.T) {
	inv := loadTestTree(t, "basic", nil)
	want := CertManager{Version: "v1.18.2", GatewayAPIEnabled: true, Found: true,
		Origin: Origin{File: "kubernetes/apps/web/app/helmrelease.yaml", Line: 32}}
	if inv.CertManager != want {
		t.Errorf("CertManager = %+v, want %+v", inv.CertManager, want)
	}
}

func TestGitOpsTunnelClientPath(t *testing.T) {
	inv := loadTestTree(t, "basic", nil)
	want := []ClientPath{
		{Name: "direct", Kind: ClientPathDirect},
		{
			Name: "tunnel", Kind: ClientPathFixedSNI, Gateway: "network/external",
			ServerName: "external.example.org", Hostnames: []string{"example.org", "*.example.org"},
			Origin: Origin{File: "kubernetes/apps/network/app/tunnel.yaml", Line: 4},
		},
	}
	if !reflect.DeepEqual(inv.ClientPaths, want) {
		t.Errorf("client paths = %+v, want %+v", inv.ClientPaths, want)
	}
}

func TestGitOpsRemoteResourceCounted(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"kubernetes/flux/ks.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n" +
			"metadata: {name: apps, namespace: flux-system}\nspec: {path: ./kubernetes/apps}\n",
		"kubernetes/apps/kustomization.yaml": "resources:\n  - https://example.com/crds.yaml\n",
	})
	inv, err := LoadGitOps(dir, GitOpsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Skipped["(remote resource, not fetched)"] != 1 {
		t.Errorf("Skipped = %v, want the remote resource counted", inv.Skipped)
	}
}
