package harness

import (
	"context"
	"reflect"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/sim/model"
	"github.com/certwave/certwave/topology"
)

// inventoryObjects returns the inventory's ReferenceGrants before its
// Gateways, and copyInventory creates them.
func TestInventoryObjectsCopyReferenceGrants(t *testing.T) {
	ctx := context.Background()
	inv := &topology.Inventory{
		Source: "referencegrant-test",
		Gateways: []topology.Gateway{{Namespace: "network", Name: "edge", Class: "envoy", Listeners: []topology.Listener{{
			Name: "https-app", Port: 443, Protocol: topology.ProtocolHTTPS, Hostname: "app.example.com", TLSMode: topology.TLSModeTerminate,
			CertificateRefs: []topology.SecretRef{{Namespace: "certs", Name: "app-tls"}},
		}}}},
		ReferenceGrants: []topology.ReferenceGrant{{
			Namespace: "certs", Name: "gateways-read-app-tls",
			From: []topology.ReferenceGrantFrom{{Group: gwapiv1.GroupName, Kind: "Gateway", Namespace: "network"}},
			To:   []topology.ReferenceGrantTo{{Kind: "Secret", Name: "app-tls"}},
		}},
	}
	inv.Finalize()
	objects := seedObjects(t, inv)

	grantAt, gatewayAt := -1, -1
	for i, o := range objects {
		switch o.(type) {
		case *gwapiv1.ReferenceGrant:
			grantAt = i
		case *gwapiv1.Gateway:
			gatewayAt = i
		}
	}
	if grantAt < 0 {
		t.Fatal("inventoryObjects left out the ReferenceGrant")
	}
	if gatewayAt < grantAt {
		t.Errorf("the Gateway comes at %d, before the ReferenceGrant at %d", gatewayAt, grantAt)
	}

	server := fake.NewClientBuilder().WithScheme(topology.Scheme()).Build()
	if err := copyInventory(ctx, objects, server); err != nil {
		t.Fatal(err)
	}
	var grant gwapiv1.ReferenceGrant
	if err := server.Get(ctx, client.ObjectKey{Namespace: "certs", Name: "gateways-read-app-tls"}, &grant); err != nil {
		t.Fatalf("the ReferenceGrant was not created: %v", err)
	}
	secret := gwapiv1.ObjectName("app-tls")
	want := gwapiv1.ReferenceGrantSpec{
		From: []gwapiv1.ReferenceGrantFrom{{Group: gwapiv1.GroupName, Kind: "Gateway", Namespace: "network"}},
		To:   []gwapiv1.ReferenceGrantTo{{Group: "", Kind: "Secret", Name: &secret}},
	}
	if !reflect.DeepEqual(grant.Spec, want) {
		t.Errorf("created grant spec = %+v, want %+v", grant.Spec, want)
	}
}

// seedObjects returns the objects a world builds from inv, as the cluster
// world creates them.
func seedObjects(t *testing.T, inv *topology.Inventory) []client.Object {
	t.Helper()
	seed, err := model.New(inv, model.Options{Seed: 1, Start: DefaultStart})
	if err != nil {
		t.Fatal(err)
	}
	objects, err := inventoryObjects(context.Background(), seed.Client())
	if err != nil {
		t.Fatal(err)
	}
	return objects
}
