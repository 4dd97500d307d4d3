package harness

import (
	"context"
	"fmt"

	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// listenerShape is the identity of a listener's configuration: hostname,
// port, protocol and first Secret.
type listenerShape struct {
	hostname string
	port     int32
	protocol string
	secret   string
}

func (s listenerShape) String() string {
	return fmt.Sprintf("hostname %q, port %d, %s, Secret %q", s.hostname, s.port, s.protocol, s.secret)
}

// judgeListeners checks every listener left in the world against the
// listener of the same name in the inventory or in the plan's
// add-listener steps, in every scenario. A listener with another
// listener's hostname, port, protocol or Secret means that a write merged
// listeners by position. Listeners that neither names are not judged,
// because scenario actions may add them.
func (r *run) judgeListeners(ctx context.Context) []string {
	if r.plan == nil {
		return nil
	}
	known := map[string]listenerShape{}
	for _, gw := range r.inv.Gateways {
		for _, l := range gw.Listeners {
			known[gw.Namespace+"/"+gw.Name+"#"+l.Name] = inventoryShape(l)
		}
	}
	for _, s := range r.plan.Steps {
		if s.Kind == plan.StepAddListener && s.Listener != nil {
			known[s.Gateway+"#"+s.Listener.Name] = specShape(s.Listener)
		}
	}

	var gateways gwapi.GatewayList
	if err := r.world.Client().List(ctx, &gateways); err != nil {
		return []string{fmt.Sprintf("listing Gateways: %v", err)}
	}
	var fails []string
	for _, gw := range gateways.Items {
		for _, l := range gw.Spec.Listeners {
			key := gw.Namespace + "/" + gw.Name + "#" + string(l.Name)
			want, ok := known[key]
			if !ok {
				continue
			}
			if got := liveShape(l); got != want {
				fails = append(fails, fmt.Sprintf("listener %s has %s, expected %s", key, got, want))
			}
		}
	}
	return fails
}

func inventoryShape(l topology.Listener) listenerShape {
	s := listenerShape{hostname: l.Hostname, port: l.Port, protocol: l.Protocol}
	if len(l.CertificateRefs) > 0 {
		s.secret = l.CertificateRefs[0].Name
	}
	return s
}

func specShape(l *plan.ListenerSpec) listenerShape {
	s := listenerShape{hostname: l.Hostname, port: l.Port, protocol: l.Protocol, secret: l.SecretName}
	if s.port == 0 {
		s.port = 443
	}
	if s.protocol == "" {
		s.protocol = string(gwapi.HTTPSProtocolType)
	}
	return s
}

func liveShape(l gwapi.Listener) listenerShape {
	s := listenerShape{port: int32(l.Port), protocol: string(l.Protocol)}
	if l.Hostname != nil {
		s.hostname = string(*l.Hostname)
	}
	if l.TLS != nil && len(l.TLS.CertificateRefs) > 0 {
		s.secret = string(l.TLS.CertificateRefs[0].Name)
	}
	return s
}
