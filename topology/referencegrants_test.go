package topology

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// writeTree writes files (slash-separated paths relative to dir) and
// returns dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const referenceGrantManifests = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: gateways-read-app-tls
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: Gateway
      namespace: ${GATEWAY_NAMESPACE}
  to:
    - group: ""
      kind: Secret
      name: app-tls
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: routes-read-services
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      namespace: web
  to:
    - kind: Service
---
apiVersion: security.istio.io/v1
kind: ReferenceGrant
metadata:
  name: not-gateway-api
`

func TestGitOpsReadsReferenceGrants(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"kubernetes/flux/ks.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n" +
			"metadata: {name: apps, namespace: flux-system}\n" +
			"spec: {path: ./kubernetes/apps, postBuild: {substitute: {GATEWAY_NAMESPACE: network}}}\n",
		"kubernetes/apps/kustomization.yaml": "namespace: certs\nresources:\n  - ./grants.yaml\n",
		"kubernetes/apps/grants.yaml":        referenceGrantManifests,
	})
	inv, err := LoadGitOps(dir, GitOpsOptions{})
	if err != nil {
		t.Fatal(err)
	}

	want := []ReferenceGrant{
		{
			Namespace: "certs", Name: "gateways-read-app-tls",
			From:   []ReferenceGrantFrom{{Group: "gateway.networking.k8s.io", Kind: "Gateway", Namespace: "network"}},
			To:     []ReferenceGrantTo{{Kind: "Secret", Name: "app-tls"}},
			Origin: Origin{File: "kubernetes/apps/grants.yaml", Line: 1},
		},
		{
			Namespace: "certs", Name: "routes-read-services",
			From:   []ReferenceGrantFrom{{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute", Namespace: "web"}},
			To:     []ReferenceGrantTo{{Kind: "Service"}},
			Origin: Origin{File: "kubernetes/apps/grants.yaml", Line: 15},
		},
	}
	if !reflect.DeepEqual(inv.ReferenceGrants, want) {
		t.Errorf("ReferenceGrants = %+v\nwant %+v", inv.ReferenceGrants, want)
	}
	if inv.Skipped["ReferenceGrant.security.istio.io"] != 1 {
		t.Errorf("Skipped = %v, want the ReferenceGrant of another API group counted", inv.Skipped)
	}
}

func TestGitOpsReferenceGrantUndefinedVariable(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"kubernetes/flux/ks.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n" +
			"metadata: {name: apps, namespace: flux-system}\nspec: {path: ./kubernetes/apps}\n",
		"kubernetes/apps/kustomization.yaml": "resources:\n  - ./grants.yaml\n",
		"kubernetes/apps/grants.yaml":        referenceGrantManifests,
	})
	_, err := LoadGitOps(dir, GitOpsOptions{})
	if err == nil {
		t.Fatal("LoadGitOps succeeded, want an error for the unset GATEWAY_NAMESPACE")
	}
	for _, part := range []string{"kubernetes/apps/grants.yaml:9:", "GATEWAY_NAMESPACE"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}

// grantObject returns a ReferenceGrant in certs that lets Gateways of
// network use the Secret app-tls.
func grantObject() *gwapi.ReferenceGrant {
	name := gwapi.ObjectName("app-tls")
	return &gwapi.ReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: "certs", Name: "gateways-read-app-tls"},
		Spec: gwapi.ReferenceGrantSpec{
			From: []gwapi.ReferenceGrantFrom{{Group: gwapi.GroupName, Kind: "Gateway", Namespace: "network"}},
			To:   []gwapi.ReferenceGrantTo{{Group: "", Kind: "Secret", Name: &name}},
		},
	}
}

var wantClusterGrants = []ReferenceGrant{{
	Namespace: "certs", Name: "gateways-read-app-tls",
	From: []ReferenceGrantFrom{{Group: "gateway.networking.k8s.io", Kind: "Gateway", Namespace: "network"}},
	To:   []ReferenceGrantTo{{Kind: "Secret", Name: "app-tls"}},
}}

// clusterFailingList returns a fake cluster holding objects whose List of
// ReferenceGrants fails with err for each version in versions.
func clusterFailingList(err error, versions []string, objects ...client.Object) client.Client {
	return fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(objects...).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			version := ""
			switch list.(type) {
			case *gwapi.ReferenceGrantList:
				version = "v1"
			case *gwapiv1beta1.ReferenceGrantList:
				version = "v1beta1"
			}
			if slices.Contains(versions, version) {
				return err
			}
			return c.List(ctx, list, opts...)
		}}).Build()
}

// notServed is the error of a List of a kind the API server does not
// serve.
var notServed = &meta.NoKindMatchError{GroupKind: gwapi.SchemeGroupVersion.WithKind("ReferenceGrant").GroupKind()}

func TestLoadClusterReadsReferenceGrants(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(grantObject()).Build()
	inv, err := LoadCluster(context.Background(), c, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(inv.ReferenceGrants, wantClusterGrants) {
		t.Errorf("ReferenceGrants = %+v\nwant %+v", inv.ReferenceGrants, wantClusterGrants)
	}
}

// Gateway API v0.6 to v1.4 serve ReferenceGrant as v1beta1 only.
func TestLoadClusterReadsReferenceGrantsV1beta1(t *testing.T) {
	c := clusterFailingList(notServed, []string{"v1"}, (*gwapiv1beta1.ReferenceGrant)(grantObject()))
	inv, err := LoadCluster(context.Background(), c, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(inv.ReferenceGrants, wantClusterGrants) {
		t.Errorf("ReferenceGrants = %+v\nwant %+v", inv.ReferenceGrants, wantClusterGrants)
	}
}

func TestLoadClusterWithoutReferenceGrantCRD(t *testing.T) {
	c := clusterFailingList(notServed, []string{"v1", "v1beta1"})
	inv, err := LoadCluster(context.Background(), c, "test")
	if err != nil {
		t.Fatalf("LoadCluster without the ReferenceGrant CRD: %v", err)
	}
	if len(inv.ReferenceGrants) != 0 {
		t.Errorf("ReferenceGrants = %+v, want none", inv.ReferenceGrants)
	}
}

func TestLoadClusterReferenceGrantListError(t *testing.T) {
	forbidden := errors.New("referencegrants is forbidden")
	c := clusterFailingList(forbidden, []string{"v1"}, grantObject())
	_, err := LoadCluster(context.Background(), c, "test")
	if !errors.Is(err, forbidden) {
		t.Errorf("error = %v, want the list error wrapped", err)
	}
}

func TestReferenceHasNoReferenceGrants(t *testing.T) {
	if grants := Reference().ReferenceGrants; grants != nil {
		t.Errorf("ReferenceGrants = %+v, want none", grants)
	}
}
