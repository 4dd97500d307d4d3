package model

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"
)

func listenerNames(t *testing.T, w *World, namespace, name string) []string {
	t.Helper()
	var gw gwapiv1.Gateway
	getObject(t, w, namespace, name, &gw)
	var names []string
	for _, l := range gw.Spec.Listeners {
		names = append(names, string(l.Name))
	}
	return names
}

// The Gateway CRD declares spec.listeners with x-kubernetes-list-type: map
// keyed by name (gateway-api v1.6.0
// config/crd/standard/gateway.networking.k8s.io_gateways.yaml), so a
// server-side apply that lists only certwave's listener merges with the
// listeners other managers own, and re-applying without it removes only
// it.
func TestApplyMergesListenersByName(t *testing.T) {
	w := newReferenceWorld(t, Options{})

	applyListeners(t, w, "network", "internal", httpsListener("https-grafana", "grafana.example.com", "grafana-tls"))
	got := listenerNames(t, w, "network", "internal")
	want := []string{"http", "https", "https-grafana"}
	if len(got) != len(want) {
		t.Fatalf("listeners after apply = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("listener %d = %s, want %s", i, got[i], want[i])
		}
	}

	applyListeners(t, w, "network", "internal")
	got = listenerNames(t, w, "network", "internal")
	if len(got) != 2 || got[0] != "http" || got[1] != "https" {
		t.Errorf("listeners after re-apply without https-grafana = %v, want [http https]", got)
	}
}

// The same merge holds for an apply of an unstructured object, the form a
// generic engine step uses.
func TestApplyUnstructuredMergesListeners(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "Gateway",
		"metadata":   map[string]any{"name": "external", "namespace": "network"},
		"spec": map[string]any{"listeners": []any{map[string]any{
			"name": "https-blog", "port": int64(443), "protocol": "HTTPS", "hostname": "blog.example.com",
			"tls": map[string]any{"mode": "Terminate", "certificateRefs": []any{map[string]any{"name": "blog-tls"}}},
		}}},
	}}
	if err := w.Client().Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("certwave")); err != nil {
		t.Fatalf("apply: %v", err)
	}
	got := listenerNames(t, w, "network", "external")
	if len(got) != 3 {
		t.Errorf("listeners = %v, want http, https and https-blog", got)
	}
}

// HTTPRoute spec.parentRefs is atomic in the CRD: an apply replaces the
// whole list, and the applier then owns it.
func TestApplyReplacesParentRefs(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	route := gwapply.HTTPRoute("grafana", "apps").WithSpec(gwapply.HTTPRouteSpec().
		WithParentRefs(gwapply.ParentReference().WithName("internal").WithNamespace("network").WithSectionName("https-grafana")))
	if err := w.Client().Apply(context.Background(), route, client.FieldOwner("certwave"), client.ForceOwnership); err != nil {
		t.Fatalf("apply route: %v", err)
	}
	var r gwapiv1.HTTPRoute
	getObject(t, w, "apps", "grafana", &r)
	if len(r.Spec.ParentRefs) != 1 || r.Spec.ParentRefs[0].SectionName == nil || *r.Spec.ParentRefs[0].SectionName != "https-grafana" {
		t.Errorf("parentRefs = %+v, want one ref to section https-grafana", r.Spec.ParentRefs)
	}
	if len(r.Spec.Hostnames) != 1 {
		t.Errorf("hostnames = %v, want the inventory's hostname kept", r.Spec.Hostnames)
	}
}

// Objects created by server-side apply get a UID and a creation time like
// on a real API server, which owner references rely on.
func TestApplyCreateStampsUID(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	gw := gwapply.Gateway("extra", "network").WithSpec(gwapply.GatewaySpec().WithGatewayClassName("envoy").
		WithListeners(httpsListener("https", "x.example.com", "x-tls")))
	if err := w.Client().Apply(context.Background(), gw, client.FieldOwner("certwave")); err != nil {
		t.Fatalf("apply: %v", err)
	}
	var got gwapiv1.Gateway
	getObject(t, w, "network", "extra", &got)
	if got.UID == "" {
		t.Error("UID is empty")
	}
	if !got.CreationTimestamp.Time.Equal(testStart) {
		t.Errorf("creationTimestamp = %s, want the virtual time %s", got.CreationTimestamp, testStart)
	}
}

// Managed field times come from the wall clock in apimachinery's field
// manager; the engine's client reads them cleared, so runs replay.
func TestClientReadsHaveNoWallClockTimes(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	applyListeners(t, w, "network", "internal", httpsListener("https-grafana", "grafana.example.com", "grafana-tls"))
	var gw gwapiv1.Gateway
	getObject(t, w, "network", "internal", &gw)
	if len(gw.ManagedFields) == 0 {
		t.Fatal("no managedFields returned")
	}
	for _, m := range gw.ManagedFields {
		if m.Time != nil {
			t.Errorf("managedFields entry of %s carries time %s", m.Manager, m.Time)
		}
	}
}
