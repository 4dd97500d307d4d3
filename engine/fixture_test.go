package engine

import (
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

const (
	acmeIssuer    = "ClusterIssuer/letsencrypt-production"
	privateIssuer = "ClusterIssuer/certwave-private-ca"
)

var reflection = map[string]string{
	topology.AnnotationReflectionAllowed:           "true",
	topology.AnnotationReflectionAllowedNamespaces: "network,apps",
	topology.AnnotationReflectionAutoEnabled:       "true",
}

// testObjects returns the cluster before the migration: two Gateways
// whose https listener serves the wildcard Secret, one HTTPRoute per app
// bound to it by sectionName, and the Ready wildcard Certificate.
func testObjects() []client.Object {
	gateway := func(name string) *gwv1.Gateway {
		return &gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: name},
			Spec: gwv1.GatewaySpec{GatewayClassName: "envoy", Listeners: []gwv1.Listener{
				{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
				{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType,
					TLS: &gwv1.ListenerTLSConfig{Mode: ptr.To(gwv1.TLSModeTerminate),
						CertificateRefs: []gwv1.SecretObjectReference{{Name: "example-com-tls"}}},
					AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr.To(gwv1.NamespacesFromAll)}}},
			}},
		}
	}
	route := func(app, gw string) *gwv1.HTTPRoute {
		return &gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: app},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{
					{Namespace: ptr.To(gwv1.Namespace("network")), Name: gwv1.ObjectName(gw), SectionName: ptr.To(gwv1.SectionName("https"))},
					{Namespace: ptr.To(gwv1.Namespace("network")), Name: gwv1.ObjectName(gw), SectionName: ptr.To(gwv1.SectionName("http"))},
				}},
				Hostnames: []gwv1.Hostname{gwv1.Hostname(app + ".example.com")},
			},
		}
	}
	now := metav1.NewTime(testStart)
	wildcard := &cmv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "example-com"},
		Spec: cmv1.CertificateSpec{
			DNSNames: []string{"example.com", "*.example.com"}, SecretName: "example-com-tls",
			IssuerRef:      cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "letsencrypt-production"},
			SecretTemplate: &cmv1.CertificateSecretTemplate{Annotations: reflection},
		},
		Status: cmv1.CertificateStatus{
			Revision: ptr.To(1), NotAfter: ptr.To(metav1.NewTime(testStart.Add(60 * 24 * time.Hour))),
			Conditions: []cmv1.CertificateCondition{{Type: cmv1.CertificateConditionReady, Status: cmmeta.ConditionTrue, LastTransitionTime: &now}},
		},
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "example-com-tls", Annotations: reflection}}
	return []client.Object{
		gateway("external"), gateway("internal"),
		route("blog", "external"), route("git", "external"), route("docs", "external"), route("wiki", "internal"),
		wildcard, secret,
	}
}

// testPlan returns a plan for testObjects in the planner's shape. Phase 0
// annotates the external Gateway and phase 1 creates the private CA and
// moves wiki. Phase 2 is the blog canary, phase 3 moves git and docs in two
// waves, and phase 4 removes the wildcard listener, reflection and
// Certificate.
func testPlan() *plan.Plan {
	p := &plan.Plan{
		APIVersion: plan.APIVersion, Domain: "example.com",
		Options: plan.Options{Variant: plan.VariantHybrid, ACMEIssuer: acmeIssuer, PrivateIssuer: privateIssuer,
			ReadyTimeout: 10 * time.Minute, ClusterResourceNamespace: "cert-manager"},
		Cohorts: []plan.Cohort{
			{Name: plan.CohortPublic, Gateways: []string{"network/external"}, Hosts: []plan.Host{
				testHost("blog", "external", acmeIssuer), testHost("git", "external", acmeIssuer), testHost("docs", "external", acmeIssuer)}},
			{Name: plan.CohortInternal, Gateways: []string{"network/internal"}, Hosts: []plan.Host{testHost("wiki", "internal", privateIssuer)}},
		},
		Inventory: &topology.Inventory{
			Gateways: []topology.Gateway{{Namespace: "network", Name: "external", Listeners: []topology.Listener{
				{Name: "https", Port: 443, Protocol: "HTTPS", TLSMode: "Terminate", CertificateRefs: []topology.SecretRef{{Name: "example-com-tls"}}, AllowedNamespaces: "All"},
			}}},
			Certificates: []topology.Certificate{{Namespace: "network", Name: "example-com", SecretName: "example-com-tls",
				DNSNames: []string{"example.com", "*.example.com"}, IssuerRef: topology.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt-production"},
				SecretAnnotations: reflection}},
		},
	}
	add := func(s plan.Step) { p.Steps = append(p.Steps, s) }
	add(plan.Step{ID: "p0-preflight", Phase: 0, Kind: plan.StepPreflight})
	add(plan.Step{ID: "p0-annotate-network-external", Phase: 0, Kind: plan.StepAnnotateGateway, Gateway: "network/external",
		Annotations: map[string]string{topology.AnnotationClusterIssuer: "letsencrypt-production"}})
	add(plan.Step{ID: "p0-shim-test-network-external", Phase: 0, Kind: plan.StepShimTest, Gateway: "network/external",
		Duration: 5 * time.Minute, Expect: "a Warning BadConfig event for listener https"})

	add(plan.Step{ID: "p1-create-issuer-selfsigned", Phase: 1, Kind: plan.StepCreateIssuer,
		Issuer: &plan.IssuerSpec{Kind: "ClusterIssuer", Name: "certwave-private-ca-selfsigned", Type: topology.IssuerSelfSigned}})
	add(plan.Step{ID: "p1-create-certificate-ca", Phase: 1, Kind: plan.StepCreateCert, Certificate: "cert-manager/certwave-private-ca",
		CertificateSpec: &plan.CertificateSpec{Namespace: "cert-manager", Name: "certwave-private-ca", SecretName: "certwave-private-ca",
			CommonName: "certwave-private-ca", IssuerRef: "ClusterIssuer/certwave-private-ca-selfsigned", IsCA: true, Duration: 87600 * time.Hour}})
	add(plan.Step{ID: "p1-wait-ready-ca", Phase: 1, Kind: plan.StepWaitReady, Certificate: "cert-manager/certwave-private-ca"})
	add(plan.Step{ID: "p1-create-issuer-ca", Phase: 1, Kind: plan.StepCreateIssuer,
		Issuer: &plan.IssuerSpec{Kind: "ClusterIssuer", Name: "certwave-private-ca", Type: topology.IssuerCA, CASecret: "certwave-private-ca"}})
	add(plan.Step{ID: "p1-annotate-network-internal", Phase: 1, Kind: plan.StepAnnotateGateway, Gateway: "network/internal",
		Annotations: map[string]string{topology.AnnotationClusterIssuer: "certwave-private-ca"}})
	add(plan.Step{ID: "p1-shim-test-network-internal", Phase: 1, Kind: plan.StepShimTest, Gateway: "network/internal", Duration: 5 * time.Minute})
	migrate(p, 1, 1, "p1-b1", "wiki", "internal", 0)
	migrate(p, 2, 1, "p2", "blog", "external", 24*time.Hour)
	add(plan.Step{ID: "p2-observe-renewal-blog", Phase: 2, Wave: 1, Kind: plan.StepObserveRenewal, Certificate: "network/blog-tls", Hosts: []string{"blog.example.com"}, Duration: 10 * time.Minute})
	migrate(p, 3, 1, "p3-w1", "git", "external", 12*time.Hour)
	migrate(p, 3, 2, "p3-w2", "docs", "external", 12*time.Hour)

	add(plan.Step{ID: "p4-remove-listener-network-external-https", Phase: 4, Kind: plan.StepRemoveListener, Gateway: "network/external",
		Listener: &plan.ListenerSpec{Name: "https"}})
	add(plan.Step{ID: "p4-remove-reflection-example-com", Phase: 4, Kind: plan.StepRemoveReflection, Certificate: "network/example-com"})
	add(plan.Step{ID: "p4-delete-certificate-example-com", Phase: 4, Kind: plan.StepDeleteCert, Certificate: "network/example-com"})
	return p
}

func testHost(app, gw, issuer string) plan.Host {
	return plan.Host{Hostname: app + ".example.com", App: app, Gateway: "network/" + gw, Routes: []string{"apps/" + app},
		Issuer: issuer, Listener: "https-" + app, SecretName: app + "-tls", FromListener: "https"}
}

// migrate adds the steps that move one app onto its own listener.
func migrate(p *plan.Plan, phase, wave int, prefix, app, gw string, soak time.Duration) {
	host := app + ".example.com"
	steps := []plan.Step{
		{ID: prefix + "-add-listener-" + app, Kind: plan.StepAddListener, Gateway: "network/" + gw,
			Listener: &plan.ListenerSpec{Name: "https-" + app, Hostname: host, Port: 443, Protocol: "HTTPS", SecretName: app + "-tls", AllowedNamespaces: "All"}},
		{ID: prefix + "-wait-ready-" + app, Kind: plan.StepWaitReady, Hosts: []string{host}},
		{ID: prefix + "-flip-" + app, Kind: plan.StepFlipRoute, Gateway: "network/" + gw, Route: "apps/" + app, FromSection: "https", SectionName: "https-" + app},
		{ID: prefix + "-probe-" + app, Kind: plan.StepProbe, Hosts: []string{host}},
	}
	if soak > 0 {
		steps = append(steps, plan.Step{ID: prefix + "-soak-" + app, Kind: plan.StepSoak, Hosts: []string{host}, Duration: soak})
	}
	for _, s := range steps {
		s.Phase, s.Wave = phase, wave
		p.Steps = append(p.Steps, s)
	}
}
