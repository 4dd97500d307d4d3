package model

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/topology"
)

// DesiredObjects returns the objects a GitOps tool applies for an
// inventory: its issuers, Gateways, HTTPRoutes and Certificates, as the
// model world builds them, without Secrets or status. profile fills
// spec.acme.profile where the inventory names none.
func DesiredObjects(inv *topology.Inventory, profile string) []client.Object {
	w := &World{opts: Options{Profile: profile}}
	var out []client.Object
	for _, is := range inv.Issuers {
		out = append(out, w.issuerObject(is))
	}
	for i := range inv.Gateways {
		out = append(out, gatewayObject(&inv.Gateways[i]))
	}
	for i := range inv.Routes {
		out = append(out, routeObject(&inv.Routes[i]))
	}
	for _, c := range inv.Certificates {
		out = append(out, certificateObject(c))
	}
	return out
}
