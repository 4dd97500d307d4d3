package harness

import (
	"context"
	"fmt"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/topology"
)

// objectSet lists every Certificate and Secret in the world as
// Kind/namespace/name.
func (r *run) objectSet(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	var certs cmapi.CertificateList
	if err := r.world.Client().List(ctx, &certs); err != nil {
		return nil, fmt.Errorf("listing Certificates: %w", err)
	}
	for _, c := range certs.Items {
		out["Certificate/"+c.Namespace+"/"+c.Name] = true
	}
	var secrets corev1.SecretList
	if err := r.world.Client().List(ctx, &secrets); err != nil {
		return nil, fmt.Errorf("listing Secrets: %w", err)
	}
	for _, s := range secrets.Items {
		out["Secret/"+s.Namespace+"/"+s.Name] = true
	}
	return out, nil
}

func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// judgeEndState reads the world's Gateways, routes and Certificates and
// compares them with the expected end state.
func (r *run) judgeEndState(ctx context.Context, want *scenarios.EndState) []string {
	var fails []string
	failf := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
	cl := r.world.Client()

	var certs cmapi.CertificateList
	var gateways gwapi.GatewayList
	var routes gwapi.HTTPRouteList
	var secrets corev1.SecretList
	if err := cl.List(ctx, &certs); err != nil {
		return []string{err.Error()}
	}
	if err := cl.List(ctx, &gateways); err != nil {
		return []string{err.Error()}
	}
	if err := cl.List(ctx, &routes); err != nil {
		return []string{err.Error()}
	}
	if err := cl.List(ctx, &secrets); err != nil {
		return []string{err.Error()}
	}

	wildcardCert := false
	reflection := false
	issuerOfSecret := map[string]string{}
	for _, c := range certs.Items {
		for _, n := range c.Spec.DNSNames {
			if strings.HasPrefix(n, "*.") {
				wildcardCert = true
			}
		}
		if c.Spec.SecretTemplate != nil && c.Spec.SecretTemplate.Annotations[topology.AnnotationReflectionAllowed] == "true" {
			reflection = true
		}
		issuerOfSecret[c.Namespace+"/"+c.Spec.SecretName] = c.Spec.IssuerRef.Kind + "/" + c.Spec.IssuerRef.Name
	}
	for _, s := range secrets.Items {
		if s.Annotations[topology.AnnotationReflectionAllowed] == "true" {
			reflection = true
		}
	}

	wildcardListeners := 0
	exactListener := map[string]string{} // gateway/listener -> hostname
	privateHosts, acmeHosts := 0, 0
	for _, gw := range gateways.Items {
		for _, l := range gw.Spec.Listeners {
			if l.Protocol != gwapi.HTTPSProtocolType || l.TLS == nil {
				continue
			}
			host := ""
			if l.Hostname != nil {
				host = string(*l.Hostname)
			}
			if host == "" || strings.HasPrefix(host, "*.") {
				wildcardListeners++
				continue
			}
			exactListener[gw.Namespace+"/"+gw.Name+"/"+string(l.Name)] = host
			for _, ref := range l.TLS.CertificateRefs {
				issuer := issuerOfSecret[gw.Namespace+"/"+string(ref.Name)]
				switch {
				case issuer == r.plan.Options.PrivateIssuer:
					privateHosts++
				case issuer == r.plan.Options.ACMEIssuer:
					acmeHosts++
				}
			}
		}
	}

	onOwn := 0
	for _, rt := range routes.Items {
		if routeOnOwnListener(&rt, exactListener) {
			onOwn++
		}
	}

	checkBool := func(name string, want *bool, got bool) {
		if want != nil && *want != got {
			failf("end state: %s is %v, expected %v", name, got, *want)
		}
	}
	checkInt := func(name string, want *int, got int) {
		if want != nil && *want != got {
			failf("end state: %s is %d, expected %d", name, got, *want)
		}
	}
	checkBool("wildcardCertificate", want.WildcardCertificate, wildcardCert)
	checkBool("reflection", want.Reflection, reflection)
	checkInt("wildcardListeners", want.WildcardListeners, wildcardListeners)
	checkInt("routesOnOwnListener", want.RoutesOnOwnListener, onOwn)
	checkInt("privateCAHosts", want.PrivateCAHosts, privateHosts)
	checkInt("acmeHosts", want.ACMEHosts, acmeHosts)
	return fails
}

// routeOnOwnListener reports whether every parentRef of the route names,
// by sectionName, a listener whose hostname is one of the route's.
func routeOnOwnListener(rt *gwapi.HTTPRoute, exact map[string]string) bool {
	if len(rt.Spec.ParentRefs) == 0 || len(rt.Spec.Hostnames) == 0 {
		return false
	}
	for _, p := range rt.Spec.ParentRefs {
		if p.SectionName == nil {
			return false
		}
		ns := rt.Namespace
		if p.Namespace != nil {
			ns = string(*p.Namespace)
		}
		host, ok := exact[ns+"/"+string(p.Name)+"/"+string(*p.SectionName)]
		if !ok {
			return false
		}
		match := false
		for _, h := range rt.Spec.Hostnames {
			if string(h) == host {
				match = true
			}
		}
		if !match {
			return false
		}
	}
	return true
}

// judgeUnreachable probes each host@client-path pair at the end of the run.
func (r *run) judgeUnreachable(ctx context.Context) []string {
	var fails []string
	for _, pair := range r.s.Expect.Unreachable {
		host, path, _ := strings.Cut(pair, "@")
		res, err := r.world.Prober().Probe(ctx, host, path)
		if err != nil {
			fails = append(fails, fmt.Sprintf("probing %s through %s: %v", host, path, err))
			continue
		}
		if res.Outcome == engine.OutcomeServed {
			fails = append(fails, fmt.Sprintf("%s is served through %s, expected it unreachable", host, path))
			continue
		}
		r.note("%s through %s: %s (%s)", host, path, res.Outcome, res.Detail)
	}
	return fails
}
