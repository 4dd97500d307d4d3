package topology

import (
	"context"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
)

func TestLoadClusterReadsObjects(t *testing.T) {
	section := gwapi.SectionName("https")
	ns := gwapi.Namespace("network")
	host := gwapi.Hostname("*.example.com")
	fromAll := gwapi.NamespacesFromAll
	objs := []client.Object{
		&gwapi.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "external"},
			Spec: gwapi.GatewaySpec{
				GatewayClassName: "envoy",
				Listeners: []gwapi.Listener{{
					Name: "https", Port: 443, Protocol: gwapi.HTTPSProtocolType, Hostname: &host,
					AllowedRoutes: &gwapi.AllowedRoutes{Namespaces: &gwapi.RouteNamespaces{From: &fromAll}},
					TLS:           &gwapi.ListenerTLSConfig{CertificateRefs: []gwapi.SecretObjectReference{{Name: "example-com-tls"}}},
				}},
			},
		},
		&gwapi.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "blog"},
			Spec: gwapi.HTTPRouteSpec{
				CommonRouteSpec: gwapi.CommonRouteSpec{ParentRefs: []gwapi.ParentReference{{Name: "external", Namespace: &ns, SectionName: &section}}},
				Hostnames:       []gwapi.Hostname{"blog.example.com"},
			},
		},
		&cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "example.com"},
			Spec: cmapi.CertificateSpec{
				SecretName: "example-com-tls", DNSNames: []string{"*.example.com"},
				SecretTemplate: &cmapi.CertificateSecretTemplate{Annotations: map[string]string{
					AnnotationReflectionAllowed: "true", AnnotationReflectionAllowedNamespaces: "network,apps",
					AnnotationReflectionAutoEnabled: "true",
				}},
			},
		},
		&cmapi.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: "letsencrypt-production"},
			Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "root"}}},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "cert-manager", Name: "cert-manager", Labels: map[string]string{
				"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller",
			}},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "controller", Image: "quay.io/jetstack/cert-manager-controller:v1.21.2",
				Args: []string{"--enable-gateway-api"},
			}}}}},
		},
	}
	c := fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(objs...).Build()

	inv, err := LoadCluster(context.Background(), c, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Gateways) != 1 || inv.Gateways[0].Listeners[0].TLSMode != TLSModeTerminate {
		t.Errorf("gateways = %+v", inv.Gateways)
	}
	if got := inv.Attachments(); len(got) != 1 || got[0].Route != "apps/blog" {
		t.Errorf("attachments = %+v, want apps/blog on network/external/https", got)
	}
	if !inv.CertManager.Found || !inv.CertManager.GatewayAPIEnabled || inv.CertManager.Version != "v1.21.2" {
		t.Errorf("cert-manager = %+v", inv.CertManager)
	}
	if m := inv.Secret("apps", "example-com-tls"); m == nil || m.MirrorOf != "network/example-com-tls" {
		t.Errorf("mirror in apps = %+v", m)
	}
	if len(inv.Issuers) != 1 || inv.Issuers[0].Type != IssuerCA {
		t.Errorf("issuers = %+v", inv.Issuers)
	}
}

func TestPluralKindNamesListItems(t *testing.T) {
	if got := pluralKind(&gwapi.GatewayList{}); got != "Gateways" {
		t.Errorf("pluralKind(GatewayList) = %q, want Gateways", got)
	}
	if got := pluralKind(&cmapi.ClusterIssuerList{}); got != "ClusterIssuers" {
		t.Errorf("pluralKind(ClusterIssuerList) = %q, want ClusterIssuers", got)
	}
}
