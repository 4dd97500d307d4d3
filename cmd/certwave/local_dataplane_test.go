package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// gatewayDataPlane serves TLS on one address of 127.0.0.1 in place of
// Envoy Gateway's data plane, so that certwave's probes reach a server of
// the test and never the real hosts of the plan. It reads the Gateways,
// HTTPRoutes and Secrets from the API server on every connection:
//   - the SNI picks the Gateway of the HTTPRoute with that hostname and, on
//     that Gateway, the HTTPS listener with the most specific matching
//     hostname, whose first certificateRef is the certificate served;
//   - GET / returns 200 when an HTTPRoute for the Host header is attached
//     to that listener (sectionName unset or equal to its name) and 404
//     otherwise, as listener isolation does.
//
// NOTE: every host shares one address, where each real Gateway has its
// own, and listener status (Programmed, ResolvedRefs) is not consulted.
type gatewayDataPlane struct {
	client client.Client
	server *httptest.Server
}

func startGatewayDataPlane(c client.Client) *gatewayDataPlane {
	dp := &gatewayDataPlane{client: c}
	dp.server = httptest.NewUnstartedServer(http.HandlerFunc(dp.serveHTTP))
	dp.server.TLS = &tls.Config{GetCertificate: dp.certificate}
	dp.server.StartTLS()
	return dp
}

// Address is the host:port the data plane listens on.
func (dp *gatewayDataPlane) Address() string { return dp.server.Listener.Addr().String() }

func (dp *gatewayDataPlane) Close() { dp.server.Close() }

// servingListener returns the Gateway and the listener that take a TLS
// connection with SNI host.
func (dp *gatewayDataPlane) servingListener(ctx context.Context, host string) (*gwapiv1.Gateway, *gwapiv1.Listener, error) {
	var routes gwapiv1.HTTPRouteList
	if err := dp.client.List(ctx, &routes); err != nil {
		return nil, nil, err
	}
	var gatewayKey *client.ObjectKey
	for _, r := range routes.Items {
		if !hasHostname(r.Spec.Hostnames, host) || len(r.Spec.ParentRefs) == 0 {
			continue
		}
		ref := r.Spec.ParentRefs[0]
		key := client.ObjectKey{Namespace: r.Namespace, Name: string(ref.Name)}
		if ref.Namespace != nil {
			key.Namespace = string(*ref.Namespace)
		}
		gatewayKey = &key
		break
	}
	if gatewayKey == nil {
		return nil, nil, fmt.Errorf("no HTTPRoute has hostname %s", host)
	}

	gw := &gwapiv1.Gateway{}
	if err := dp.client.Get(ctx, *gatewayKey, gw); err != nil {
		return nil, nil, err
	}
	var best *gwapiv1.Listener
	bestRank := 0
	for i := range gw.Spec.Listeners {
		l := &gw.Spec.Listeners[i]
		if l.Protocol != gwapiv1.HTTPSProtocolType {
			continue
		}
		if rank := hostnameRank(l.Hostname, host); rank > bestRank {
			best, bestRank = l, rank
		}
	}
	if best == nil {
		return nil, nil, fmt.Errorf("Gateway %s has no HTTPS listener for %s", gatewayKey, host)
	}
	return gw, best, nil
}

// hostnameRank orders the listener hostnames that match host: 3 for the
// same name, 2 for a matching wildcard, 1 for no hostname and 0 for no
// match.
func hostnameRank(listener *gwapiv1.Hostname, host string) int {
	switch {
	case listener == nil || *listener == "":
		return 1
	case string(*listener) == host:
		return 3
	case strings.HasPrefix(string(*listener), "*.") && strings.HasSuffix(host, string(*listener)[1:]):
		return 2
	}
	return 0
}

func hasHostname(list []gwapiv1.Hostname, host string) bool {
	for _, h := range list {
		if string(h) == host {
			return true
		}
	}
	return false
}

// certificate returns the key pair of the serving listener's Secret.
func (dp *gatewayDataPlane) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ctx := hello.Context()
	gw, l, err := dp.servingListener(ctx, hello.ServerName)
	if err != nil {
		return nil, err
	}
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		return nil, fmt.Errorf("listener %s of Gateway %s/%s has no certificateRefs", l.Name, gw.Namespace, gw.Name)
	}
	ref := l.TLS.CertificateRefs[0]
	key := client.ObjectKey{Namespace: gw.Namespace, Name: string(ref.Name)}
	if ref.Namespace != nil {
		key.Namespace = string(*ref.Namespace)
	}
	secret := &corev1.Secret{}
	if err := dp.client.Get(ctx, key, secret); err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("Secret %s: %w", key, err)
	}
	return &cert, nil
}

func (dp *gatewayDataPlane) serveHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	gw, l, err := dp.servingListener(r.Context(), r.TLS.ServerName)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var routes gwapiv1.HTTPRouteList
	if err := dp.client.List(r.Context(), &routes); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, route := range routes.Items {
		if !hasHostname(route.Spec.Hostnames, host) {
			continue
		}
		for _, ref := range route.Spec.ParentRefs {
			namespace := route.Namespace
			if ref.Namespace != nil {
				namespace = string(*ref.Namespace)
			}
			if namespace != gw.Namespace || string(ref.Name) != gw.Name {
				continue
			}
			if ref.SectionName == nil || *ref.SectionName == "" || string(*ref.SectionName) == string(l.Name) {
				fmt.Fprintf(w, "%s through Gateway %s/%s, listener %s\n", host, gw.Namespace, gw.Name, l.Name)
				return
			}
		}
	}
	http.NotFound(w, r)
}
