package engine

import (
	"fmt"
	"maps"
	"slices"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// gatewayOwned is every field of one Gateway that certwave owns: the
// annotations of its annotate-gateway steps and its listeners. Server-side
// apply removes what certwave owned and no longer sends, so each apply to a
// Gateway sends all of it.
type gatewayOwned struct {
	annotations map[string]string
	listeners   []*gwac.ListenerApplyConfiguration
}

func (g *gatewayOwned) listenerNames() []string {
	var names []string
	for _, l := range g.listeners {
		names = append(names, string(*l.Name))
	}
	return names
}

// ownedGateway derives what certwave owns on gateway from the completed
// steps, in plan order, and the listeners a rollback restored.
func (e *Engine) ownedGateway(gateway string, completed map[string]bool, restored []RestoredListener) (gatewayOwned, error) {
	owned := gatewayOwned{annotations: map[string]string{}}
	var removed []string
	for i := range e.plan.Steps {
		s := &e.plan.Steps[i]
		if !completed[s.ID] || s.Gateway != gateway {
			continue
		}
		switch s.Kind {
		case plan.StepAnnotateGateway:
			maps.Copy(owned.annotations, s.Annotations)
		case plan.StepAddListener:
			if s.Listener == nil {
				return owned, fmt.Errorf("invalid plan: step %s adds no listener", s.ID)
			}
			l, err := listenerFromSpec(s.Listener)
			if err != nil {
				return owned, fmt.Errorf("step %s: %w", s.ID, err)
			}
			owned.upsert(l)
		case plan.StepRemoveListener:
			if s.Listener != nil {
				owned.remove(s.Listener.Name)
				removed = append(removed, s.Listener.Name)
			}
		}
	}
	for _, r := range restored {
		// A restored listener that a completed remove-listener step names
		// is being removed again.
		if r.Gateway != gateway || slices.Contains(removed, r.Listener) {
			continue
		}
		l, err := e.inventoryListener(gateway, r.Listener)
		if err != nil {
			return owned, err
		}
		owned.upsert(l)
	}
	return owned, nil
}

func (g *gatewayOwned) upsert(l *gwac.ListenerApplyConfiguration) {
	g.remove(string(*l.Name))
	g.listeners = append(g.listeners, l)
}

func (g *gatewayOwned) remove(name string) {
	g.listeners = slices.DeleteFunc(g.listeners, func(l *gwac.ListenerApplyConfiguration) bool {
		return string(*l.Name) == name
	})
}

// listenerFromSpec builds the per-host listener: HTTPS terminating TLS with
// the host's Secret, admitting routes from the namespaces the spec copies
// from the listener the host leaves (All when the spec leaves it empty).
func listenerFromSpec(spec *plan.ListenerSpec) (*gwac.ListenerApplyConfiguration, error) {
	port := spec.Port
	if port == 0 {
		port = 443
	}
	protocol := gwv1.ProtocolType(spec.Protocol)
	if protocol == "" {
		protocol = gwv1.HTTPSProtocolType
	}
	from := gwv1.FromNamespaces(spec.AllowedNamespaces)
	switch from {
	case "":
		from = gwv1.NamespacesFromAll
	case gwv1.NamespacesFromAll, gwv1.NamespacesFromSame:
	default:
		return nil, fmt.Errorf("listener %s admits routes by %s, which the plan cannot copy: add it by hand", spec.Name, from)
	}
	return gwac.Listener().
		WithName(gwv1.SectionName(spec.Name)).
		WithHostname(gwv1.Hostname(spec.Hostname)).
		WithPort(port).
		WithProtocol(protocol).
		WithTLS(gwac.ListenerTLSConfig().
			WithMode(gwv1.TLSModeTerminate).
			WithCertificateRefs(gwac.SecretObjectReference().
				WithGroup("").WithKind("Secret").WithName(gwv1.ObjectName(spec.SecretName)))).
		WithAllowedRoutes(gwac.AllowedRoutes().
			WithNamespaces(gwac.RouteNamespaces().WithFrom(from))), nil
}

// inventoryListener rebuilds a listener of the plan's inventory, for a
// rollback that puts back a listener phase 4 removed.
func (e *Engine) inventoryListener(gateway, name string) (*gwac.ListenerApplyConfiguration, error) {
	if e.plan.Inventory == nil {
		return nil, fmt.Errorf("plan has no inventory, so listener %s of Gateway %s cannot be restored", name, gateway)
	}
	ns, gwName := splitKey(gateway)
	gw := e.plan.Inventory.Gateway(ns, gwName)
	if gw == nil || gw.Listener(name) == nil {
		return nil, fmt.Errorf("listener %s of Gateway %s is not in the plan's inventory", name, gateway)
	}
	l := gw.Listener(name)
	out := gwac.Listener().
		WithName(gwv1.SectionName(l.Name)).
		WithPort(l.Port).
		WithProtocol(gwv1.ProtocolType(l.Protocol))
	if l.Hostname != "" {
		out.WithHostname(gwv1.Hostname(l.Hostname))
	}
	if l.TLSMode != "" {
		tls := gwac.ListenerTLSConfig().WithMode(gwv1.TLSModeType(l.TLSMode))
		for _, ref := range l.CertificateRefs {
			r := gwac.SecretObjectReference().WithGroup("").WithKind("Secret").WithName(gwv1.ObjectName(ref.Name))
			if ref.Namespace != "" {
				r.WithNamespace(gwv1.Namespace(ref.Namespace))
			}
			tls.WithCertificateRefs(r)
		}
		out.WithTLS(tls)
	}
	switch l.AllowedNamespaces {
	case "":
	case string(gwv1.NamespacesFromAll), string(gwv1.NamespacesFromSame):
		out.WithAllowedRoutes(gwac.AllowedRoutes().
			WithNamespaces(gwac.RouteNamespaces().WithFrom(gwv1.FromNamespaces(l.AllowedNamespaces))))
	default:
		return nil, fmt.Errorf("listener %s of Gateway %s admits routes by %s, which the inventory does not record: restore it by hand", name, gateway, l.AllowedNamespaces)
	}
	return out, nil
}

// inventoryCertificate returns the Certificate namespace/name of the plan's
// inventory.
func (e *Engine) inventoryCertificate(key string) (*topology.Certificate, error) {
	if e.plan.Inventory == nil {
		return nil, fmt.Errorf("plan has no inventory, so Certificate %s cannot be restored", key)
	}
	ns, name := splitKey(key)
	for i := range e.plan.Inventory.Certificates {
		c := &e.plan.Inventory.Certificates[i]
		if c.Namespace == ns && c.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("Certificate %s is not in the plan's inventory", key)
}
