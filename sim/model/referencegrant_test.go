package model

import (
	"context"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// crossNamespaceInventory returns an inventory with one Gateway,
// network/edge, whose listener https-app serves app.example.com with the
// Secret certs/app-tls, one route on that listener, and grants.
func crossNamespaceInventory(grants ...topology.ReferenceGrant) *topology.Inventory {
	inv := &topology.Inventory{
		Source: "referencegrant-test",
		Domain: "example.com",
		Gateways: []topology.Gateway{{
			Namespace: "network", Name: "edge", Class: "envoy",
			Listeners: []topology.Listener{{
				Name: "https-app", Port: 443, Protocol: topology.ProtocolHTTPS, Hostname: "app.example.com",
				TLSMode: topology.TLSModeTerminate, AllowedNamespaces: "All",
				CertificateRefs: []topology.SecretRef{{Namespace: "certs", Name: "app-tls"}},
			}},
		}},
		Routes: []topology.Route{{
			Namespace: "apps", Name: "app", Hostnames: []string{"app.example.com"},
			ParentRefs: []topology.ParentRef{{Namespace: "network", Name: "edge", SectionName: "https-app"}},
		}},
		Secrets:         []topology.Secret{{Namespace: "certs", Name: "app-tls"}},
		ClientPaths:     []topology.ClientPath{{Name: "direct", Kind: topology.ClientPathDirect}},
		ReferenceGrants: grants,
	}
	inv.Finalize()
	return inv
}

// gatewaysReadSecret returns a grant in certs that lets Gateways of
// network use the Secret name, or every Secret when name is empty.
func gatewaysReadSecret(name string) topology.ReferenceGrant {
	return topology.ReferenceGrant{
		Namespace: "certs", Name: "gateways-read-" + name,
		From: []topology.ReferenceGrantFrom{{Group: gwapiv1.GroupName, Kind: "Gateway", Namespace: "network"}},
		To:   []topology.ReferenceGrantTo{{Kind: "Secret", Name: name}},
	}
}

func newInventoryWorld(t *testing.T, inv *topology.Inventory) *World {
	t.Helper()
	w, err := New(inv, Options{Seed: 1, Start: testStart, EnvoyGatewayVersion: "1.9"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

// wantEdgeListener checks a condition of listener https-app of
// network/edge.
func wantEdgeListener(t *testing.T, w *World, typ gwapiv1.ListenerConditionType, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := listenerCondition(t, w, "network", "edge", "https-app", string(typ))
	if c == nil {
		t.Errorf("listener https-app has no %s condition, want %s %s", typ, status, reason)
		return
	}
	if c.Status != status || c.Reason != reason {
		t.Errorf("listener https-app %s = %s %s (%s), want %s %s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
}

func TestBuildReferenceGrantProgramsListener(t *testing.T) {
	w := newInventoryWorld(t, crossNamespaceInventory(gatewaysReadSecret("app-tls")))

	var grant gwapiv1.ReferenceGrant
	getObject(t, w, "certs", "gateways-read-app-tls", &grant)
	secret := gwapiv1.ObjectName("app-tls")
	want := gwapiv1.ReferenceGrantSpec{
		From: []gwapiv1.ReferenceGrantFrom{{Group: gwapiv1.GroupName, Kind: "Gateway", Namespace: "network"}},
		To:   []gwapiv1.ReferenceGrantTo{{Group: "", Kind: "Secret", Name: &secret}},
	}
	if !reflect.DeepEqual(grant.Spec, want) {
		t.Errorf("grant spec = %+v, want %+v", grant.Spec, want)
	}
	wantEdgeListener(t, w, gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionTrue, string(gwapiv1.ListenerReasonResolvedRefs))
	wantEdgeListener(t, w, gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))
	if res := probe(t, w, "app.example.com", "direct"); res.Outcome != engine.OutcomeServed {
		t.Errorf("probe of app.example.com = %s (%s), want served", res.Outcome, res.Detail)
	}
}

// A grant without a name in spec.to covers every Secret of its namespace.
func TestBuildReferenceGrantForEverySecret(t *testing.T) {
	w := newInventoryWorld(t, crossNamespaceInventory(gatewaysReadSecret("")))
	wantEdgeListener(t, w, gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))
}

func TestBuildWithoutReferenceGrantRefNotPermitted(t *testing.T) {
	for name, inv := range map[string]*topology.Inventory{
		"no grant":             crossNamespaceInventory(),
		"grant for another":    crossNamespaceInventory(gatewaysReadSecret("other-tls")),
		"grant for a Service":  crossNamespaceInventory(topology.ReferenceGrant{Namespace: "certs", Name: "services", From: gatewaysReadSecret("").From, To: []topology.ReferenceGrantTo{{Kind: "Service"}}}),
		"grant from elsewhere": crossNamespaceInventory(topology.ReferenceGrant{Namespace: "certs", Name: "apps", From: []topology.ReferenceGrantFrom{{Group: gwapiv1.GroupName, Kind: "Gateway", Namespace: "apps"}}, To: gatewaysReadSecret("").To}),
	} {
		t.Run(name, func(t *testing.T) {
			w := newInventoryWorld(t, inv)
			wantEdgeListener(t, w, gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, string(gwapiv1.ListenerReasonRefNotPermitted))
			wantEdgeListener(t, w, gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalid))
			if res := probe(t, w, "app.example.com", "direct"); res.Outcome == engine.OutcomeServed {
				t.Errorf("probe of app.example.com served (%s), want it refused without a grant", res.Detail)
			}
		})
	}
}

// The Mirror reads the server's ReferenceGrants, so the listener status it
// writes follows the grant: Programmed with it, RefNotPermitted once it is
// deleted.
func TestMirrorReadsReferenceGrants(t *testing.T) {
	inv := crossNamespaceInventory(gatewaysReadSecret("app-tls"))
	source := newInventoryWorld(t, inv)
	server := serverFromWorld(t, source)
	m, err := NewMirror(inv, Options{Start: source.Now(), EnvoyGatewayVersion: "1.9"}, server)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Sync(ctx, source.Now()); err != nil {
		t.Fatal(err)
	}
	wantServerListener(t, server, gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))

	grant := &gwapiv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "certs", Name: "gateways-read-app-tls"}}
	if err := server.Delete(ctx, grant); err != nil {
		t.Fatalf("delete the grant on the server: %v", err)
	}
	if _, err := m.Sync(ctx, source.Now()); err != nil {
		t.Fatal(err)
	}
	wantServerListener(t, server, gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, string(gwapiv1.ListenerReasonRefNotPermitted))
}

func wantServerListener(t *testing.T, server client.Client, typ gwapiv1.ListenerConditionType, status metav1.ConditionStatus, reason string) {
	t.Helper()
	var gw gwapiv1.Gateway
	if err := server.Get(context.Background(), client.ObjectKey{Namespace: "network", Name: "edge"}, &gw); err != nil {
		t.Fatal(err)
	}
	for _, l := range gw.Status.Listeners {
		if l.Name != "https-app" {
			continue
		}
		for _, c := range l.Conditions {
			if c.Type == string(typ) {
				if c.Status != status || c.Reason != reason {
					t.Errorf("server listener https-app %s = %s %s (%s), want %s %s", typ, c.Status, c.Reason, c.Message, status, reason)
				}
				return
			}
		}
	}
	t.Errorf("server listener https-app has no %s condition, want %s %s", typ, status, reason)
}
