package model

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// serverFromWorld copies a model world's Namespaces, GatewayClasses,
// Secrets, Gateways and HTTPRoutes into a controller-runtime fake client,
// with the Gateway and route status cleared, as a server where no Envoy
// Gateway runs would hold them. It leaves out reflector's auto mirrors,
// which the Mirror must recreate.
func serverFromWorld(t *testing.T, w *World) client.Client {
	t.Helper()
	b := fake.NewClientBuilder().WithScheme(w.scheme).
		WithStatusSubresource(&gwapiv1.Gateway{}, &gwapiv1.HTTPRoute{}, &gwapiv1.GatewayClass{})
	for _, k := range mirrorKinds {
		list := k.list()
		if err := w.api.List(context.Background(), list); err != nil {
			t.Fatal(err)
		}
		items, err := ListObjects(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range items {
			o.SetResourceVersion("")
			o.SetManagedFields(nil)
			switch obj := o.(type) {
			case *gwapiv1.Gateway:
				obj.Status = gwapiv1.GatewayStatus{}
			case *gwapiv1.HTTPRoute:
				obj.Status = gwapiv1.HTTPRouteStatus{}
			case *corev1.Secret:
				if _, mirror := obj.Annotations[annotationAutoReflects]; mirror {
					continue
				}
			}
			b = b.WithObjects(o)
		}
	}
	return b.Build()
}

// The Mirror decides the same listener status as the model world it comes
// from, writes it to the server, recreates reflector's auto mirrors, and
// probes hosts from the server's objects.
func TestMirrorWritesEnvoyGatewayStatusAndReflections(t *testing.T) {
	source := newReferenceWorld(t, Options{})
	server := serverFromWorld(t, source)
	inv := topology.Reference()
	m, err := NewMirror(inv, Options{Start: source.Now()}, server)
	if err != nil {
		t.Fatal(err)
	}
	writes, err := m.Sync(context.Background(), source.Now())
	if err != nil {
		t.Fatal(err)
	}
	if writes == 0 {
		t.Fatal("the first Sync wrote nothing to a server without status")
	}

	var want, got gwapiv1.Gateway
	getObject(t, source, "network", "internal", &want)
	if err := server.Get(context.Background(), client.ObjectKey{Namespace: "network", Name: "internal"}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Listeners) != len(want.Status.Listeners) {
		t.Fatalf("Gateway network/internal on the server has %d listener statuses, the model %d",
			len(got.Status.Listeners), len(want.Status.Listeners))
	}
	for i, l := range want.Status.Listeners {
		for _, typ := range []string{"Accepted", "ResolvedRefs", "Programmed"} {
			w, g := meta.FindStatusCondition(l.Conditions, typ), meta.FindStatusCondition(got.Status.Listeners[i].Conditions, typ)
			if w == nil || g == nil || w.Status != g.Status || w.Reason != g.Reason {
				t.Errorf("listener %s condition %s: server %+v, model %+v", l.Name, typ, g, w)
			}
		}
	}

	var mirror corev1.Secret
	if err := server.Get(context.Background(), client.ObjectKey{Namespace: "istio-system", Name: topology.WildcardSecret}, &mirror); err != nil {
		t.Fatalf("reflector's auto mirror istio-system/%s was not recreated: %v", topology.WildcardSecret, err)
	}

	host := inv.Routes[0].Hostnames[0]
	res, err := m.Prober().Probe(context.Background(), host, "direct")
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != engine.OutcomeServed {
		t.Errorf("probe of %s from the mirrored objects: %s (%s), want served", host, res.Outcome, res.Detail)
	}

	again, err := m.Sync(context.Background(), source.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if again != 0 {
		t.Errorf("a second Sync with nothing changed wrote %d objects, want 0", again)
	}
}
