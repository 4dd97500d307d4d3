package gitops

import (
	"strings"
	"testing"

	"github.com/certwave/certwave/topology"
)

// A new manifest goes beside the named manifest, and its folder's
// kustomization.yaml lists it, so the Flux Kustomization that applies the
// neighbour applies it too. Adding it twice changes nothing.
func TestAddManifestListsFileInKustomization(t *testing.T) {
	r, _ := openFixture(t)
	doc := "---\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: certwave-private-ca\nspec:\n  ca:\n    secretName: certwave-private-ca\n"
	for range 2 {
		if err := r.AddManifest("ClusterIssuer", "letsencrypt-production", "", "certwave-private-ca.yaml", doc); err != nil {
			t.Fatalf("AddManifest: %v", err)
		}
	}
	diff := r.Diff()
	for _, want := range []string{
		"--- /dev/null\n+++ b/kubernetes/apps/cert-manager/cert-manager/issuers/certwave-private-ca.yaml\n",
		"+  name: certwave-private-ca\n",
		"   - letsencrypt-staging.yaml\n+  - certwave-private-ca.yaml\n",
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if n := strings.Count(diff, "+  - certwave-private-ca.yaml"); n != 1 {
		t.Errorf("kustomization lists the file %d times, want once", n)
	}
}

// The issuers folder is applied with targetNamespace cert-manager, which
// would move a Certificate of another namespace: that is an error that
// names both namespaces.
func TestAddManifestRejectsOtherNamespace(t *testing.T) {
	r, _ := openFixture(t)
	err := r.AddManifest("ClusterIssuer", "letsencrypt-production", "istio-system", "whoami-tls.yaml", "kind: Certificate\n")
	if err == nil || !strings.Contains(err.Error(), "namespace cert-manager, not istio-system") {
		t.Fatalf("AddManifest into another namespace's folder: got %v, want an error naming both namespaces", err)
	}
}

// kube-prometheus-stack renders its routes from alertmanager.route.main:
// with the route's origin from the inventory, FlipRoute edits that entry.
func TestFlipRouteAtChartValuesOrigin(t *testing.T) {
	r, dir := openFixture(t)
	inv, err := topology.LoadGitOps(dir, topology.GitOpsOptions{Vars: domainVars.Vars})
	if err != nil {
		t.Fatal(err)
	}
	r.UseRouteOrigins(inv.Routes)
	if err := r.FlipRoute("observability/kube-prometheus-stack-alertmanager", "network/internal", "https", "https-alertmanager"); err != nil {
		t.Fatalf("FlipRoute: %v", err)
	}
	diff := r.Diff()
	if !strings.Contains(diff, "-              sectionName: https\n+              sectionName: https-alertmanager\n") {
		t.Errorf("diff does not move the alertmanager route's sectionName:\n%s", diff)
	}
	if strings.Count(diff, "+++ ") != 1 {
		t.Errorf("diff touches more than the HelmRelease:\n%s", diff)
	}
}

func TestWaveTitles(t *testing.T) {
	for _, tc := range []struct {
		w    Wave
		want string
	}{
		{Wave{Number: 3, Done: 20, Total: 77, Hosts: []string{"a"}}, "feat(network): per-app TLS migration wave 3 (20/77)"},
		{Wave{Number: 3, Done: 15, Total: 77, Hosts: []string{"a"}, ListenersOnly: true}, "feat(network): per-app TLS listeners for wave 3 (15/77)"},
		{Wave{Phase: 1, Done: 0, Total: 77}, "feat(network): per-app TLS migration, phase 1 (0/77)"},
	} {
		if got := tc.w.Title(); got != tc.want {
			t.Errorf("Title() = %q, want %q", got, tc.want)
		}
	}
}
