package topology

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/certwave/certwave/internal/fixtures"
)

// The expected values below were counted by hand from the fixture tree, with
// shell commands run in homelab-gitops/ and without the loader:
//
//  1. Deployed namespaces: the uncommented entries of
//     kubernetes/apps/kustomization.yaml (grep -E '^\s+- '): 22, kuadrant
//     is commented out. The ks.yaml files those folders' kustomization.yaml
//     list, plus the 7 under observability/exporters/kustomization.yaml:
//     123 (nextcloud, birdcam-youtube, matter-server, frigate-mcp and
//     netbox-mcp are commented out).
//  2. Their Flux Kustomizations: awk over each ks.yaml for "  path:" and
//     "  targetNamespace:" gives 171 paths with their namespace.
//  3. Each path expanded through the resources and components of its
//     kustomization.yaml files (a recursive shell function around
//     awk '/^(resources|components):/ ... /^ *- /'), giving every deployed
//     file with its namespace.
//  4. HTTPRoute manifests: grep -c '^kind: HTTPRoute' over the deployed
//     files: 16, plus istio-system/gateway/gateway.yaml from the root
//     render: 17.
//  5. Chart routes: grep -c 'parentRefs:' over deployed HelmRelease files:
//     72 = 66 app-template releases (each with one route: entry and no
//     enabled: false) + kube-prometheus-stack 2 + grafana, netbox,
//     renovate-operator and rook-ceph-cluster 1 each. The netbox chart's
//     route has the namespace and name of the home/netbox manifest, so the
//     cluster holds 17 + 72 - 1 = 88 routes.
//  6. Attachments: every parentRef (name, sectionName) of the deployed files
//     joined with its route. A parentRef without sectionName (auth/kanidm
//     on external) binds to https only, because the http listener accepts
//     routes from its own namespace only.
//
// The hand count named the kube-prometheus-stack and rook-ceph-cluster
// routes after their HelmReleases; the charts' templates name them
// <fullname>-alertmanager, <fullname>-prometheus and
// <clusterName>-dashboard, which is what the loader reports and what is
// pinned here.

// fixtureDir returns the homelab-gitops fixture, or skips the test.
func fixtureDir(t *testing.T) string {
	t.Helper()
	return fixtures.Homelab(t)
}

func loadFixture(t *testing.T) *Inventory {
	t.Helper()
	inv, err := LoadGitOps(fixtureDir(t), GitOpsOptions{Vars: map[string]string{"SECRET_DOMAIN": "example.com"}})
	if err != nil {
		t.Fatalf("LoadGitOps: %v", err)
	}
	return inv
}

func TestGitOpsFixtureGateways(t *testing.T) {
	inv := loadFixture(t)
	type listener struct {
		name, protocol, hostname, allowed, secret string
		port                                      int32
	}
	want := map[string]struct {
		class     string
		listeners []listener
	}{
		"istio-system/istio": {"istio", []listener{
			{"http", "HTTP", "*.app.example.com", "Same", "", 80},
			{"https", "HTTPS", "*.app.example.com", "All", "example-com-tls", 443},
		}},
		"mcp-system/mcp-gateway": {"istio", []listener{
			{"mcp", "HTTP", "mcp.example.com", "All", "", 8080},
			{"mcps", "HTTP", "*.mcp.local", "All", "", 8080},
		}},
		"network/external": {"envoy", []listener{
			{"http", "HTTP", "", "Same", "", 80},
			{"https", "HTTPS", "", "All", "example-com-tls", 443},
		}},
		"network/internal": {"envoy", []listener{
			{"http", "HTTP", "", "Same", "", 80},
			{"https", "HTTPS", "", "All", "example-com-tls", 443},
		}},
		"network/tcp": {"envoy", []listener{
			{"ssh", "TCP", "", "All", "", 22},
		}},
	}
	if len(inv.Gateways) != len(want) {
		t.Errorf("got %d Gateways, want %d", len(inv.Gateways), len(want))
	}
	for _, g := range inv.Gateways {
		key := g.Namespace + "/" + g.Name
		w, ok := want[key]
		if !ok {
			t.Errorf("unexpected Gateway %s", key)
			continue
		}
		if g.Class != w.class {
			t.Errorf("%s class = %q, want %q", key, g.Class, w.class)
		}
		var got []listener
		for _, l := range g.Listeners {
			secret := ""
			if len(l.CertificateRefs) == 1 {
				secret = l.CertificateRefs[0].Name
			}
			got = append(got, listener{l.Name, l.Protocol, l.Hostname, l.AllowedNamespaces, secret, l.Port})
		}
		if !reflect.DeepEqual(got, w.listeners) {
			t.Errorf("%s listeners = %+v, want %+v", key, got, w.listeners)
		}
	}
}

func TestGitOpsFixtureSubstitutesReplace(t *testing.T) {
	inv := loadFixture(t)
	// The Gateways write "${SECRET_DOMAIN/./-}-tls": replace the first dot.
	l := inv.Gateway("network", "internal").Listener("https")
	if got := l.CertificateRefs[0].Name; got != "example-com-tls" {
		t.Errorf("certificateRef = %q, want example-com-tls", got)
	}
	if inv.Domain != "example.com" {
		t.Errorf("Domain = %q, want example.com", inv.Domain)
	}
}

func TestGitOpsFixtureAttachments(t *testing.T) {
	inv := loadFixture(t)
	want := map[string][]string{
		"istio-system/istio/http":     {"istio-system/istio"},
		"istio-system/istio/https":    {"mcp-system/whoami"},
		"mcp-system/mcp-gateway/mcp":  {"mcp-system/mcp-gateway-broker"},
		"mcp-system/mcp-gateway/mcps": {"mcp-system/grafana-mcp", "mcp-system/ha-mcp", "mcp-system/kubectl-mcp", "mcp-system/mealie-mcp", "mcp-system/paperless-mcp", "mcp-system/prometheus-mcp", "mcp-system/searxng-mcp"},
		"network/external/http":       {"network/external"},
		"network/external/https":      {"auth/kanidm", "auth/pocket-id", "collab/obsidian-couchdb", "flux-system/github-webhook", "home/home-assistant", "media/gonic", "media/immich", "observability/kromgo", "selfhosted/webhook"},
		"network/internal/http":       {"network/internal"},
		"network/internal/https": {
			"ai/comfyui", "ai/kubeclaw", "ai/mcp-inspector", "ai/ollama", "ai/paperless-ai",
			"auth/lldap",
			"collab/atuin", "collab/exercisediary", "collab/glance", "collab/it-tools", "collab/mealie",
			"collab/medikeep", "collab/nametag", "collab/open-webui", "collab/paperless", "collab/pump",
			"collab/searxng", "collab/sparkyfitness-frontend", "collab/startpunkt-user", "collab/swiparr",
			"databases/pgadmin",
			"downloads/jdownloader2", "downloads/prowlarr", "downloads/qbittorrent", "downloads/sabnzbd", "downloads/slskd",
			"home/emqx", "home/esphome", "home/esphome-code", "home/frigate", "home/home-assistant-code",
			"home/netbox", "home/node-red", "home/zigbee2mqtt", "home/zwave-js-ui",
			"istio-system/kiali",
			"kube-system/hubble", "kube-system/zot",
			"longhorn-system/longhorn",
			"mcp-system/mcp-gateway-internal",
			"media/beets", "media/cutvideo", "media/immich-power-tools", "media/immichkiosk", "media/jellyfin",
			"media/lidarr", "media/music-assistant", "media/radarr", "media/seerr", "media/sonarr",
			"media/soularr", "media/stash", "media/suggestarr", "media/theme-park", "media/videodupfinder",
			"observability/blackbox-exporter", "observability/goldilocks", "observability/grafana",
			"observability/kube-ops-view", "observability/kube-prometheus-stack-alertmanager",
			"observability/kube-prometheus-stack-prometheus", "observability/netdata", "observability/watch-your-lan",
			"renovate/renovate-operator",
			"rook-ceph/rook-ceph-dashboard",
			"storage/garage", "storage/garage-webui",
		},
	}
	got := map[string][]string{}
	for _, a := range inv.Attachments() {
		key := a.Gateway + "/" + a.Listener
		got[key] = append(got[key], a.Route)
	}
	for key, routes := range want {
		sort.Strings(routes)
		if !reflect.DeepEqual(got[key], routes) {
			t.Errorf("listener %s: got %d routes %v\nwant %d routes %v", key, len(got[key]), got[key], len(routes), routes)
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("unexpected attachments on listener %s: %v", key, got[key])
		}
	}
	if n := len(want["network/internal/https"]); n != 67 {
		t.Errorf("hand count for network/internal/https is %d, want 67", n)
	}
}

func TestGitOpsFixtureRouteCount(t *testing.T) {
	inv := loadFixture(t)
	if len(inv.Routes) != 88 {
		t.Errorf("got %d HTTPRoutes, want 88 (17 manifests + 72 chart routes - 1 duplicate)", len(inv.Routes))
	}
	netbox := inv.Route("home", "netbox")
	if netbox == nil {
		t.Fatal("route home/netbox missing")
	}
	if !strings.HasSuffix(netbox.Origin.File, "home/netbox/app/httproute.yaml") {
		t.Errorf("home/netbox comes from %s, want the manifest httproute.yaml", netbox.Origin)
	}
}

func TestGitOpsFixtureCertManager(t *testing.T) {
	inv := loadFixture(t)
	cm := inv.CertManager
	if !cm.Found {
		t.Fatal("cert-manager HelmRelease not found")
	}
	if cm.Version != "v1.17.1" {
		t.Errorf("cert-manager version = %q, want v1.17.1", cm.Version)
	}
	if cm.GatewayAPIEnabled {
		t.Error("GatewayAPIEnabled = true; the fixture's values do not enable it")
	}
}

func TestGitOpsFixtureWildcardCertificate(t *testing.T) {
	inv := loadFixture(t)
	if len(inv.Certificates) != 3 {
		t.Errorf("got %d Certificates, want 3 (network/example.com, auth/idm-lovenet, kube-system/k8tz-webhook-ca)", len(inv.Certificates))
	}
	c := inv.Certificate("network", "example.com")
	if c == nil {
		t.Fatal("Certificate network/example.com missing")
	}
	if c.SecretName != "example-com-tls" {
		t.Errorf("secretName = %q, want example-com-tls", c.SecretName)
	}
	wantNames := []string{"example.com", "*.app.example.com", "*.mcp.example.com", "*.example.com"}
	if !reflect.DeepEqual(c.DNSNames, wantNames) {
		t.Errorf("dnsNames = %v, want %v", c.DNSNames, wantNames)
	}
	if c.IssuerRef != (IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt-production"}) {
		t.Errorf("issuerRef = %+v", c.IssuerRef)
	}

	wantAnnotations := map[string]string{
		AnnotationReflectionAllowed:           "true",
		AnnotationReflectionAllowedNamespaces: "network,istio-system,mcp-system",
		AnnotationReflectionAutoEnabled:       "true",
	}
	if !reflect.DeepEqual(c.SecretAnnotations, wantAnnotations) {
		t.Errorf("secretTemplate annotations = %v, want %v", c.SecretAnnotations, wantAnnotations)
	}

	for _, ns := range []string{"istio-system", "mcp-system"} {
		m := inv.Secret(ns, "example-com-tls")
		if m == nil || m.MirrorOf != "network/example-com-tls" {
			t.Errorf("mirror %s/example-com-tls = %+v, want a mirror of network/example-com-tls", ns, m)
		}
	}
	src := inv.Secret("network", "example-com-tls")
	if src == nil || src.IssuedBy != "network/example.com" || src.Reflection == nil {
		t.Errorf("source Secret = %+v, want issued by network/example.com with a reflection", src)
	}
	mirrors := 0
	for _, s := range inv.Secrets {
		if s.MirrorOf != "" {
			mirrors++
		}
	}
	if mirrors != 2 {
		t.Errorf("got %d mirrors, want 2", mirrors)
	}
}

func TestGitOpsFixtureIssuers(t *testing.T) {
	inv := loadFixture(t)
	var got []string
	for _, is := range inv.Issuers {
		got = append(got, strings.Join([]string{is.Ref().String(), is.Type, is.ACMEServer, strings.Join(is.Solvers, ","), is.CASecret}, " "))
	}
	want := []string{
		"ClusterIssuer/letsencrypt-production ACME https://acme-v02.api.letsencrypt.org/directory dns01/cloudflare ",
		"ClusterIssuer/letsencrypt-staging ACME https://acme-staging-v02.api.letsencrypt.org/directory dns01/cloudflare ",
		"Issuer/kube-system/k8tz-webhook-ca CA   k8tz-webhook-ca",
		"Issuer/kube-system/k8tz-webhook-selfsign SelfSigned   ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("issuers:\n got %q\nwant %q", got, want)
	}
}

func TestGitOpsFixtureClientPaths(t *testing.T) {
	inv := loadFixture(t)
	want := []ClientPath{
		{
			Name: "cloudflared", Kind: ClientPathFixedSNI, Gateway: "network/external",
			ServerName: "external.example.com", Hostnames: []string{"example.com", "*.example.com"},
		},
		{Name: "direct", Kind: ClientPathDirect},
	}
	var got []ClientPath
	for _, p := range inv.ClientPaths {
		p.Origin = Origin{}
		got = append(got, p)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("client paths = %+v, want %+v", got, want)
	}
}

func TestGitOpsFixtureSkipsKuadrant(t *testing.T) {
	dir := fixtureDir(t)
	l, err := renderGitOps(dir, GitOpsOptions{Vars: map[string]string{"SECRET_DOMAIN": "example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range l.objects {
		if strings.Contains(o.file, "apps/kuadrant/") {
			t.Errorf("%s:%d (%s %s) is rendered, but kuadrant is commented out", o.file, o.line, o.kind, o.name)
		}
	}
	inv, err := buildInventoryFrom(l.objects, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	// One Namespace per uncommented folder of kubernetes/apps/kustomization.yaml.
	if n := inv.Skipped["Namespace"]; n != 22 {
		t.Errorf("Skipped[Namespace] = %d, want 22", n)
	}
}

func TestGitOpsFixtureNeedsSecretDomain(t *testing.T) {
	_, err := LoadGitOps(fixtureDir(t), GitOpsOptions{})
	if err == nil {
		t.Fatal("LoadGitOps without SECRET_DOMAIN succeeded; the tree's hostnames need it")
	}
	for _, part := range []string{"SECRET_DOMAIN", "--set SECRET_DOMAIN=", ".yaml:"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}

// The parse cache shares its node trees between loads, which is safe only
// while the loaders never change a parsed node: a second load of the same
// tree must give the same inventory as the first.
func TestGitOpsFixtureSecondLoadMatchesFirst(t *testing.T) {
	first, err := json.Marshal(loadFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	second, err := json.Marshal(loadFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("the second load of the fixture tree differs from the first (%d and %d bytes of JSON)", len(first), len(second))
	}
}
