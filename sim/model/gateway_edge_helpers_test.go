package model

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/topology"
)

// Helpers for the tests of the gateway model that build a small topology
// object by object, as the Envoy Gateway golden cases do: a Gateway
// infra/edge of class envoy, routes in apps, Secrets in infra or certs.

// edgeWorld returns an empty world under an Envoy Gateway version with the
// namespaces infra, apps and certs and the GatewayClass envoy.
func edgeWorld(t testing.TB, envoyGatewayVersion string) *World {
	t.Helper()
	w, err := New(&topology.Inventory{Source: "gateway-test"}, Options{Seed: 1, Start: testStart, EnvoyGatewayVersion: envoyGatewayVersion})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, ns := range []string{"infra", "apps", "certs"} {
		createObjects(t, w, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	createObjects(t, w, &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "envoy"},
		Spec: gwapiv1.GatewayClassSpec{ControllerName: envoyGatewayController}})
	return w
}

// createObjects creates objects through the world's client; the
// controllers settle after each.
func createObjects(t testing.TB, w *World, objects ...client.Object) {
	t.Helper()
	for _, obj := range objects {
		if err := w.Client().Create(context.Background(), obj, client.FieldOwner("kubectl")); err != nil {
			t.Fatalf("create %T %s/%s: %v", obj, obj.GetNamespace(), obj.GetName(), err)
		}
	}
}

// edgeGateway is the Gateway infra/edge of class envoy.
func edgeGateway(listeners ...gwapiv1.Listener) *gwapiv1.Gateway {
	return &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "edge"},
		Spec: gwapiv1.GatewaySpec{GatewayClassName: "envoy", Listeners: listeners}}
}

// listenerSpec is a listener admitting routes from every namespace, with
// certificateRefs to Secrets in the Gateway's namespace when secrets are
// given ("namespace/name" for another namespace).
func listenerSpec(name string, protocol gwapiv1.ProtocolType, port int32, hostname string, secrets ...string) gwapiv1.Listener {
	all := gwapiv1.NamespacesFromAll
	l := gwapiv1.Listener{Name: gwapiv1.SectionName(name), Protocol: protocol, Port: gwapiv1.PortNumber(port),
		AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: &all}}}
	if hostname != "" {
		h := gwapiv1.Hostname(hostname)
		l.Hostname = &h
	}
	if len(secrets) > 0 {
		l.TLS = &gwapiv1.ListenerTLSConfig{}
		for _, s := range secrets {
			ref := gwapiv1.SecretObjectReference{Name: gwapiv1.ObjectName(s)}
			if ns, name, ok := strings.Cut(s, "/"); ok {
				n := gwapiv1.Namespace(ns)
				ref.Namespace, ref.Name = &n, gwapiv1.ObjectName(name)
			}
			l.TLS.CertificateRefs = append(l.TLS.CertificateRefs, ref)
		}
	}
	return l
}

// httpsSpec is an HTTPS listener on port 443.
func httpsSpec(name, hostname string, secrets ...string) gwapiv1.Listener {
	return listenerSpec(name, gwapiv1.HTTPSProtocolType, 443, hostname, secrets...)
}

// edgeRoute is an HTTPRoute in apps with one parentRef to infra/edge,
// naming section unless it is empty.
func edgeRoute(name, section string, hostnames ...string) *gwapiv1.HTTPRoute {
	ns := gwapiv1.Namespace("infra")
	ref := gwapiv1.ParentReference{Name: "edge", Namespace: &ns}
	if section != "" {
		s := gwapiv1.SectionName(section)
		ref.SectionName = &s
	}
	r := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name},
		Spec: gwapiv1.HTTPRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{ref}}}}
	for _, h := range hostnames {
		r.Spec.Hostnames = append(r.Spec.Hostnames, gwapiv1.Hostname(h))
	}
	return r
}

// tlsSecret is a kubernetes.io/tls Secret namespace/name with a
// self-signed certificate for dnsNames, valid from notBefore to notAfter,
// made with the world's own key and certificate functions.
func tlsSecret(t testing.TB, w *World, key string, dnsNames []string, notBefore, notAfter time.Time) *corev1.Secret {
	t.Helper()
	ns, name, _ := strings.Cut(key, "/")
	certPEM, keyPEM := selfSignedPair(t, w, dnsNames, notBefore, notAfter)
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}}
}

// validSecret is tlsSecret valid for a year around testStart.
func validSecret(t testing.TB, w *World, key string, dnsNames ...string) *corev1.Secret {
	t.Helper()
	return tlsSecret(t, w, key, dnsNames, testStart.AddDate(0, -6, 0), testStart.AddDate(0, 6, 0))
}

// selfSignedPair returns the PEM of a self-signed certificate and of its
// key.
func selfSignedPair(t testing.TB, w *World, dnsNames []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key := w.newKey()
	certPEM, err := w.sign(leafRequest{commonName: dnsNames[0], dnsNames: dnsNames, notBefore: notBefore, notAfter: notAfter, public: key.Public()}, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// edgeListener returns the status of a listener of infra/edge.
func edgeListener(t testing.TB, w *World, listener string) gwapiv1.ListenerStatus {
	t.Helper()
	var gw gwapiv1.Gateway
	getObject(t, w, "infra", "edge", &gw)
	for _, l := range gw.Status.Listeners {
		if string(l.Name) == listener {
			return l
		}
	}
	t.Fatalf("Gateway infra/edge has no status for listener %s", listener)
	return gwapiv1.ListenerStatus{}
}

// wantListenerCondition checks one condition of a listener of infra/edge;
// an empty status means the condition must be absent.
func wantListenerCondition(t testing.TB, w *World, listener string, typ gwapiv1.ListenerConditionType, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := meta.FindStatusCondition(edgeListener(t, w, listener).Conditions, string(typ))
	switch {
	case status == "" && c != nil:
		t.Errorf("listener %s %s = %s %s, want absent", listener, typ, c.Status, c.Reason)
	case status == "":
	case c == nil:
		t.Errorf("listener %s %s absent, want %s %s", listener, typ, status, reason)
	case c.Status != status || c.Reason != reason:
		t.Errorf("listener %s %s = %s %s (%s), want %s %s", listener, typ, c.Status, c.Reason, c.Message, status, reason)
	}
}

// routeParentCondition returns a condition of an apps route's parent
// infra/edge with the section ("" for none), nil when absent.
func routeParentCondition(t testing.TB, w *World, route, section, typ string) *metav1.Condition {
	t.Helper()
	var r gwapiv1.HTTPRoute
	getObject(t, w, "apps", route, &r)
	for _, p := range r.Status.Parents {
		s := ""
		if p.ParentRef.SectionName != nil {
			s = string(*p.ParentRef.SectionName)
		}
		if string(p.ParentRef.Name) == "edge" && s == section {
			return meta.FindStatusCondition(p.Conditions, typ)
		}
	}
	t.Fatalf("HTTPRoute apps/%s has no status for parent infra/edge section %q", route, section)
	return nil
}

// wantRouteAccepted checks a route parent's Accepted condition.
func wantRouteAccepted(t testing.TB, w *World, route, section string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := routeParentCondition(t, w, route, section, string(gwapiv1.RouteConditionAccepted))
	if c == nil || c.Status != status || c.Reason != reason {
		t.Errorf("HTTPRoute apps/%s parent %q Accepted = %+v, want %s %s", route, section, c, status, reason)
	}
}
