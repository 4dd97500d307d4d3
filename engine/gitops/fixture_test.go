package gitops

import (
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certwave/certwave/internal/fixtures"
	"github.com/certwave/certwave/plan"
)

var update = flag.Bool("update", false, "rewrite the golden diffs in testdata")

// domainVars are the Flux variables the fixture needs; its cluster-secrets
// Secret, which holds SECRET_DOMAIN, is not in the tree.
var domainVars = Options{Vars: map[string]string{"SECRET_DOMAIN": "example.com"}}

// fixtureSource returns the homelab-gitops fixture, or skips the test.
func fixtureSource(t *testing.T) string {
	t.Helper()
	return fixtures.Homelab(t)
}

// fixtureCopy copies the fixture to a temporary folder and returns it.
func fixtureCopy(t *testing.T) string {
	t.Helper()
	src := fixtureSource(t)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func openFixture(t *testing.T) (*Repo, string) {
	t.Helper()
	dir := fixtureCopy(t)
	r, err := Open(dir, domainVars)
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

// checkGolden compares got with testdata/name, or rewrites the file when
// -update is set.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden diff: %v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("diff differs from %s (run go test -update after checking the change):\n%s", path, got)
	}
}

// externalListener is the per-host listener the plan gives a host of the
// external Gateway.
func externalListener(app string) plan.ListenerSpec {
	return plan.ListenerSpec{
		Name: "https-" + app, Hostname: app + ".example.com", Port: 443, Protocol: "HTTPS",
		SecretName: app + "-tls", AllowedNamespaces: "All",
	}
}

var shimAnnotations = map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt-production"}

func TestCanaryPlainHTTPRoute(t *testing.T) {
	r, _ := openFixture(t)
	// photos.example.com is served by the plain HTTPRoute media/immich.
	listener := externalListener("photos")
	if err := r.AnnotateGateway("network/external", shimAnnotations); err != nil {
		t.Fatal(err)
	}
	if err := r.AddListener("network/external", listener); err != nil {
		t.Fatal(err)
	}
	if err := r.FlipRoute("media/immich", "network/external", "https", "https-photos"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "canary-httproute.diff", r.Diff())
}

func TestCanaryHelmReleaseThroughSteps(t *testing.T) {
	r, _ := openFixture(t)
	// kromgo.example.com is served by the route the app-template
	// HelmRelease observability/kromgo renders.
	listener := externalListener("kromgo")
	steps := []plan.Step{
		{ID: "p0-annotate-external", Kind: plan.StepAnnotateGateway, Gateway: "network/external", Annotations: shimAnnotations},
		{ID: "p2-add-listener-kromgo", Kind: plan.StepAddListener, Gateway: "network/external", Listener: &listener},
		{ID: "p2-wait-kromgo", Kind: plan.StepWaitReady, Hosts: []string{"kromgo.example.com"}},
		{ID: "p2-flip-kromgo", Kind: plan.StepFlipRoute, Gateway: "network/external", Route: "observability/kromgo", FromSection: "https", SectionName: "https-kromgo"},
	}
	for _, s := range steps {
		if err := r.ApplyStep(s); err != nil {
			t.Fatalf("step %s: %v", s.ID, err)
		}
	}
	checkGolden(t, "canary-helmrelease.diff", r.Diff())
}

// waveRoutes are five external hosts and the routes serving them: app,
// HTTPRoute (plain or rendered from HelmRelease values).
var waveRoutes = [][2]string{
	{"obsidian", "collab/obsidian-couchdb"},
	{"id", "auth/pocket-id"},
	{"gonic", "media/gonic"},
	{"hass", "home/home-assistant"},
	{"renovate-webhook", "selfhosted/webhook"},
}

func applyWave(t *testing.T, r *Repo) {
	t.Helper()
	for _, w := range waveRoutes {
		if err := r.AddListener("network/external", externalListener(w[0])); err != nil {
			t.Fatalf("add listener for %s: %v", w[0], err)
		}
	}
	for _, w := range waveRoutes {
		if err := r.FlipRoute(w[1], "network/external", "https", "https-"+w[0]); err != nil {
			t.Fatalf("flip %s: %v", w[1], err)
		}
	}
}

func TestWaveOfFive(t *testing.T) {
	r, _ := openFixture(t)
	applyWave(t, r)
	checkGolden(t, "wave.diff", r.Diff())
	checkGitApply(t, r)

	// Repeating the wave changes nothing more.
	before := r.Diff()
	applyWave(t, r)
	if after := r.Diff(); after != before {
		t.Errorf("repeating the wave changed the diff:\n%s", after)
	}
}

func TestPhaseFourRemovals(t *testing.T) {
	r, dir := openFixture(t)
	if err := r.RemoveListener("network/external", "https"); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveListener("network/internal", "https"); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveReflection("network/example.com"); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveCertificate("network/example.com"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "phase4.diff", r.Diff())

	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "kubernetes/apps/network/envoy-gateway/config/certificate.yaml")
	if _, err := os.Stat(cert); !os.IsNotExist(err) {
		t.Errorf("certificate.yaml still exists after Write (stat error %v)", err)
	}
	if d := r.Diff(); d != "" {
		t.Errorf("Diff after Write is not empty:\n%s", d)
	}
	// The written tree opens again and no longer has the Certificate.
	again, err := Open(dir, domainVars)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.lookup("Certificate", "network/example.com"); err == nil {
		t.Error("the written tree still contains Certificate network/example.com")
	}
}

// TestRoundTripUntouchedLines checks, edit by edit, that each edit changes
// one contiguous range of lines, exactly the expected one, and that after
// Write every file no edit touched is byte-identical to the fixture.
func TestRoundTripUntouchedLines(t *testing.T) {
	src := fixtureSource(t)
	r, dir := openFixture(t)
	const (
		external = "kubernetes/apps/network/envoy-gateway/config/external.yaml"
		immich   = "kubernetes/apps/media/immich/app/httproute.yaml"
		gonic    = "kubernetes/apps/media/gonic/app/helmrelease.yaml"
		cert     = "kubernetes/apps/network/envoy-gateway/config/certificate.yaml"
		kustom   = "kubernetes/apps/network/envoy-gateway/config/kustomization.yaml"
	)
	edits := []struct {
		name     string
		file     string
		edit     func() error
		removed  []string
		inserted []string
		// after is the line just before the changed range.
		after string
	}{
		{
			name: "annotate", file: external,
			edit:     func() error { return r.AnnotateGateway("network/external", shimAnnotations) },
			after:    `    external-dns.alpha.kubernetes.io/target: &hostname "external.${SECRET_DOMAIN}"`,
			inserted: []string{"    cert-manager.io/cluster-issuer: letsencrypt-production"},
		},
		{
			name: "add https-photos", file: external,
			edit:  func() error { return r.AddListener("network/external", externalListener("photos")) },
			after: `            name: "${SECRET_DOMAIN/./-}-tls"`,
			inserted: []string{
				"    - name: https-photos",
				`      hostname: "photos.${SECRET_DOMAIN}"`,
				"      protocol: HTTPS",
				"      port: 443",
				"      allowedRoutes:",
				"        namespaces:",
				"          from: All",
				"      tls:",
				"        certificateRefs:",
				"          - kind: Secret",
				"            name: photos-tls",
			},
		},
		{
			name: "add https-gonic before https-photos", file: external,
			edit:  func() error { return r.AddListener("network/external", externalListener("gonic")) },
			after: `            name: "${SECRET_DOMAIN/./-}-tls"`,
			inserted: []string{
				"    - name: https-gonic",
				`      hostname: "gonic.${SECRET_DOMAIN}"`,
				"      protocol: HTTPS",
				"      port: 443",
				"      allowedRoutes:",
				"        namespaces:",
				"          from: All",
				"      tls:",
				"        certificateRefs:",
				"          - kind: Secret",
				"            name: gonic-tls",
			},
		},
		{
			name: "flip immich", file: immich,
			edit:     func() error { return r.FlipRoute("media/immich", "network/external", "https", "https-photos") },
			after:    "      namespace: network",
			removed:  []string{"      sectionName: https"},
			inserted: []string{"      sectionName: https-photos"},
		},
		{
			name: "flip gonic in HelmRelease values", file: gonic,
			edit:     func() error { return r.FlipRoute("media/gonic", "network/external", "https", "https-gonic") },
			after:    "            namespace: network",
			removed:  []string{"            sectionName: https"},
			inserted: []string{"            sectionName: https-gonic"},
		},
		{
			name: "remove reflection", file: cert,
			edit:  func() error { return r.RemoveReflection("network/example.com") },
			after: `    - "*.example.com"`,
			removed: []string{
				"  secretTemplate:",
				"    annotations:",
				`      reflector.v1.k8s.emberstack.com/reflection-allowed: "true"`,
				`      reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces: "network,istio-system,mcp-system"`,
				`      reflector.v1.k8s.emberstack.com/reflection-auto-enabled: "true"`,
			},
		},
		{
			name: "remove wildcard listener", file: external,
			edit: func() error { return r.RemoveListener("network/external", "https") },
			// Sorted insertion put https-gonic right after https.
			after: "          from: Same",
			removed: []string{
				"    - name: https",
				"      protocol: HTTPS",
				"      port: 443",
				"      allowedRoutes:",
				"        namespaces:",
				"          from: All",
				"      tls:",
				"        certificateRefs:",
				"          - kind: Secret",
				`            name: "${SECRET_DOMAIN/./-}-tls"`,
			},
		},
		{
			name: "remove certificate entry", file: kustom,
			edit:    func() error { return r.RemoveCertificate("network/example.com") },
			after:   "resources:",
			removed: []string{"  - ./certificate.yaml"},
		},
	}
	for _, e := range edits {
		before := r.files[e.file].lines
		if err := e.edit(); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		after := r.files[e.file].lines
		p := 0
		for p < len(before) && p < len(after) && before[p] == after[p] {
			p++
		}
		s := 0
		for s < len(before)-p && s < len(after)-p && before[len(before)-1-s] == after[len(after)-1-s] {
			s++
		}
		removed, inserted := before[p:len(before)-s], after[p:len(after)-s]
		if strings.Join(removed, "\n") != strings.Join(e.removed, "\n") {
			t.Errorf("%s: removed lines\n%s\nwant\n%s", e.name, strings.Join(removed, "\n"), strings.Join(e.removed, "\n"))
		}
		if strings.Join(inserted, "\n") != strings.Join(e.inserted, "\n") {
			t.Errorf("%s: inserted lines\n%s\nwant\n%s", e.name, strings.Join(inserted, "\n"), strings.Join(e.inserted, "\n"))
		}
		if p == 0 || before[p-1] != e.after {
			t.Errorf("%s: the change starts at line %d, which does not follow %q", e.name, p+1, e.after)
		}
	}

	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	touched := map[string]bool{external: true, immich: true, gonic: true, cert: true, kustom: true}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		if touched[rel] {
			return nil
		}
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if string(got) != string(want) {
			t.Errorf("%s changed, but no edit touched it", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkGitApply applies r.Diff() with git apply to a fresh copy of the
// fixture and checks that the result equals the edited text.
func checkGitApply(t *testing.T, r *Repo) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("git not found; the diff is not checked with git apply")
		return
	}
	dir := fixtureCopy(t)
	patch := filepath.Join(t.TempDir(), "edits.diff")
	if err := os.WriteFile(patch, []byte(r.Diff()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "apply", patch)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git apply rejected the diff: %v\n%s", err, out)
	}
	for _, p := range r.Changed() {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != r.files[p].text() {
			t.Errorf("%s after git apply differs from the edited text", p)
		}
	}
}

// TestEveryFixtureGatewayEditable annotates every Gateway of the fixture
// and adds a listener sorting after all others, which exercises namespace
// derivation and the layouts of all Gateway manifests.
func TestEveryFixtureGatewayEditable(t *testing.T) {
	r, _ := openFixture(t)
	var gateways []string
	for _, p := range r.paths {
		for _, d := range r.files[p].docs {
			if d.kind == "Gateway" && strings.HasPrefix(d.apiVersion, "gateway.networking.k8s.io/") {
				gateways = append(gateways, r.namespaceOf(p, d)+"/"+d.name)
			}
		}
	}
	if len(gateways) < 4 {
		t.Fatalf("found Gateways %v, want at least the 4 of the fixture", gateways)
	}
	for _, gw := range gateways {
		if strings.HasPrefix(gw, "/") {
			t.Errorf("Gateway %s: namespace not derived", gw)
			continue
		}
		if err := r.AnnotateGateway(gw, shimAnnotations); err != nil {
			t.Errorf("annotate %s: %v", gw, err)
		}
		if err := r.AddListener(gw, plan.ListenerSpec{Name: "zz-test", Hostname: "zz.example.com", Protocol: "HTTPS", Port: 443, SecretName: "zz-tls"}); err != nil {
			t.Errorf("add listener to %s: %v", gw, err)
		}
	}
	t.Logf("edited Gateways %v", gateways)
	if d := r.Diff(); !strings.Contains(d, "          from: All # any namespace can register an MCP server route\n+    - name: zz-test\n") {
		t.Errorf("the listener added to mcp-gateway does not follow its last listener:\n%s", d)
	}
}
