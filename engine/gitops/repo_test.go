package gitops

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certwave/certwave/plan"
)

// writeTree writes files (relative path → content) under a new temporary
// folder and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, text := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const sortedGateway = `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: net
spec:
  gatewayClassName: envoy
  listeners:
    - name: b
      protocol: HTTP
      port: 80
    # d serves the old apps
    - name: d
      protocol: HTTP
      port: 81
    - name: f
      protocol: HTTP
      port: 82
`

func listenerNames(t *testing.T, r *Repo, gateway string) []string {
	t.Helper()
	m, err := r.lookup("Gateway", gateway)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, item := range get(get(m.doc.root, "spec"), "listeners").Content {
		names = append(names, scalar(get(item, "name")))
	}
	return names
}

func TestAddListenerSortedInsertion(t *testing.T) {
	dir := writeTree(t, map[string]string{"gw.yaml": sortedGateway})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"c", "z", "a", "e"} {
		l := plan.ListenerSpec{Name: name, Hostname: name + ".example.org", Protocol: "HTTPS", Port: 443, SecretName: name + "-tls"}
		if err := r.AddListener("net/edge", l); err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
	}
	if got, want := strings.Join(listenerNames(t, r, "net/edge"), ","), "a,b,c,d,e,f,z"; got != want {
		t.Errorf("listener order %s, want %s", got, want)
	}
	text := r.files["gw.yaml"].text()
	if !strings.Contains(text, "    # d serves the old apps\n    - name: d\n") {
		t.Errorf("the comment above listener d no longer precedes it:\n%s", text)
	}
}

func TestAddListenerKeepsUnsortedOrder(t *testing.T) {
	unsorted := strings.Replace(sortedGateway, "name: b", "name: x", 1)
	dir := writeTree(t, map[string]string{"gw.yaml": unsorted})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddListener("net/edge", plan.ListenerSpec{Name: "c", Hostname: "c.example.org", SecretName: "c-tls"}); err != nil {
		t.Fatal(err)
	}
	// c goes before the first listener that sorts after it, which is x;
	// the existing listeners keep their order.
	if got, want := strings.Join(listenerNames(t, r, "net/edge"), ","), "c,x,d,f"; got != want {
		t.Errorf("listener order %s, want %s", got, want)
	}
}

func TestAddListenerConflictingHostname(t *testing.T) {
	dir := writeTree(t, map[string]string{"gw.yaml": sortedGateway})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = r.AddListener("net/edge", plan.ListenerSpec{Name: "d", Hostname: "d.example.org"})
	if err == nil || !strings.Contains(err.Error(), "already has a listener d") {
		t.Errorf("error %v, want one about the existing listener d", err)
	}
}

const commentedRoute = `# Route for the shop.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: shop   # short name
  namespace: web
spec:
  hostnames: ["shop.example.org"]

  parentRefs:
    # the public gateway
    - name: edge
      namespace: net
      sectionName: 'https' # shared wildcard listener
  rules:
    - backendRefs: [{name: shop, port: 8080}]
      # trailing comment
---
apiVersion: v1
kind: Service
metadata:
  name: shop
`

func TestFlipRoutePreservesComments(t *testing.T) {
	dir := writeTree(t, map[string]string{"app/route.yaml": commentedRoute})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.FlipRoute("web/shop", "net/edge", "https", "https-shop"); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(r.files["app/route.yaml"].text(), "\n")
	want := strings.Split(commentedRoute, "\n")
	if len(got) != len(want) {
		t.Fatalf("line count %d, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if i == 13 {
			if got[i] != "      sectionName: 'https-shop' # shared wildcard listener" {
				t.Errorf("line 14 is %q, want the new sectionName with its quotes and comment", got[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("line %d changed: %q, was %q", i+1, got[i], want[i])
		}
	}

	// Flipping again is a no-op.
	if err := r.FlipRoute("web/shop", "net/edge", "https", "https-shop"); err != nil {
		t.Errorf("second flip: %v", err)
	}
}

func TestAnnotateCreatesAnnotations(t *testing.T) {
	dir := writeTree(t, map[string]string{"gw.yaml": sortedGateway})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AnnotateGateway("net/edge", map[string]string{"cert-manager.io/cluster-issuer": "le", "cert-manager.io/duration": "2160h"}); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(sortedGateway, "  namespace: net\n",
		"  namespace: net\n  annotations:\n    cert-manager.io/cluster-issuer: le\n    cert-manager.io/duration: 2160h\n", 1)
	if got := r.files["gw.yaml"].text(); got != want {
		t.Errorf("annotated Gateway:\n%s\nwant\n%s", got, want)
	}
	// Changing one value rewrites only that line.
	if err := r.AnnotateGateway("net/edge", map[string]string{"cert-manager.io/duration": "720h"}); err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(want, "2160h", "720h", 1)
	if got := r.files["gw.yaml"].text(); got != want {
		t.Errorf("re-annotated Gateway:\n%s\nwant\n%s", got, want)
	}
}

func TestLookupUnknownObject(t *testing.T) {
	dir := writeTree(t, map[string]string{"gw.yaml": sortedGateway, "app/route.yaml": commentedRoute})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}

	err = r.AddListener("net/missing", plan.ListenerSpec{Name: "a"})
	if err == nil {
		t.Fatal("AddListener on an unknown Gateway succeeded")
	}
	for _, want := range []string{"Gateway net/missing not found", "2 YAML files", "net/edge"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	err = r.FlipRoute("web/nothing", "net/edge", "https", "https-x")
	if err == nil {
		t.Fatal("FlipRoute on an unknown route succeeded")
	}
	for _, want := range []string{"HTTPRoute web/nothing not found", "web/shop", "app-template HelmRelease"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	err = r.RemoveCertificate("net/wildcard")
	if err == nil || !strings.Contains(err.Error(), "none of the 2 YAML files contains a Certificate") {
		t.Errorf("error %v, want one saying no Certificate exists", err)
	}
}

func TestLookupAmbiguousName(t *testing.T) {
	noNamespace := strings.Replace(sortedGateway, "  namespace: net\n", "", 1)
	dir := writeTree(t, map[string]string{"a/gw.yaml": noNamespace, "b/gw.yaml": noNamespace})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.lookup("Gateway", "net/edge")
	if err == nil {
		t.Fatal("lookup of a Gateway defined twice succeeded")
	}
	for _, want := range []string{"ambiguous", "a/gw.yaml:2", "b/gw.yaml:2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestLookupDerivesNamespace(t *testing.T) {
	noNamespace := strings.Replace(sortedGateway, "  namespace: net\n", "", 1)
	dir := writeTree(t, map[string]string{
		"apps/a/gw.yaml": noNamespace,
		"apps/b/gw.yaml": noNamespace,
		// A Flux Kustomization puts apps/a in namespace net; a kustomize
		// namespace puts apps/b in namespace other.
		"flux/ks.yaml":              "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: a\nspec:\n  targetNamespace: net\n  path: ./apps/a\n",
		"apps/b/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: other\nresources:\n  - gw.yaml\n",
	})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.lookup("Gateway", "net/edge")
	if err != nil {
		t.Fatal(err)
	}
	if m.file.path != "apps/a/gw.yaml" {
		t.Errorf("net/edge found in %s, want apps/a/gw.yaml", m.file.path)
	}
	m, err = r.lookup("Gateway", "other/edge")
	if err != nil {
		t.Fatal(err)
	}
	if m.file.path != "apps/b/gw.yaml" {
		t.Errorf("other/edge found in %s, want apps/b/gw.yaml", m.file.path)
	}
}

func TestNameMatchesVariables(t *testing.T) {
	known := &Repo{vars: map[string]string{"SECRET_DOMAIN": "example.com"}}
	unknown := &Repo{}
	cases := []struct {
		repo *Repo
		tmpl string
		name string
		want bool
	}{
		{known, "${SECRET_DOMAIN/./-}-tls", "example-com-tls", true},
		{known, "${SECRET_DOMAIN/./-}-tls", "other-com-tls", false},
		{known, "${SECRET_DOMAIN//./-}", "example-com", true},
		{known, "${MISSING:=fallback}-tls", "fallback-tls", true},
		{unknown, "${SECRET_DOMAIN/./-}-tls", "anything-tls", true},
		{unknown, "${SECRET_DOMAIN/./-}-tls", "-tls", false},
	}
	for _, c := range cases {
		if got := c.repo.nameMatches(c.tmpl, c.name); got != c.want {
			t.Errorf("nameMatches(%q, %q) with vars %v = %v, want %v", c.tmpl, c.name, c.repo.vars, got, c.want)
		}
	}
	if got := known.templated("shop.example.com"); got != "shop.${SECRET_DOMAIN}" {
		t.Errorf("templated(shop.example.com) = %q, want shop.${SECRET_DOMAIN}", got)
	}
}

func TestRemoveCertificateDocumentOnly(t *testing.T) {
	cert := "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: wild\n  namespace: net\nspec:\n  secretName: wild-tls\n"
	dir := writeTree(t, map[string]string{"net/all.yaml": sortedGateway + "---\n" + cert})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveCertificate("net/wild"); err != nil {
		t.Fatal(err)
	}
	if got := r.files["net/all.yaml"].text(); got != sortedGateway {
		t.Errorf("after removing the Certificate document:\n%s\nwant the Gateway document alone", got)
	}
}

func TestDiffAppliesWithGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not found")
	}
	dir := writeTree(t, map[string]string{"gw.yaml": sortedGateway, "app/route.yaml": commentedRoute})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddListener("net/edge", plan.ListenerSpec{Name: "c", Hostname: "c.example.org", SecretName: "c-tls"}); err != nil {
		t.Fatal(err)
	}
	if err := r.FlipRoute("web/shop", "net/edge", "https", "c"); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{"gw.yaml": r.files["gw.yaml"].text(), "app/route.yaml": r.files["app/route.yaml"].text()}
	patch := filepath.Join(t.TempDir(), "edits.diff")
	if err := os.WriteFile(patch, []byte(r.Diff()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "apply", patch)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git apply rejected the diff: %v\n%s\n%s", err, out, r.Diff())
	}

	for p, text := range want {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != text {
			t.Errorf("%s after git apply differs from the edited text", p)
		}
	}
}

func TestCommitWave(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not found")
	}
	dir := writeTree(t, map[string]string{"gw.yaml": sortedGateway, "app/route.yaml": commentedRoute, "other.yaml": "a: 1\n"})
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	git("init", "-q", "-b", "main")
	git("config", "user.name", "certwave test")
	git("config", "user.email", "certwave@example.org")
	git("add", "-A")
	git("commit", "-q", "-m", "initial")

	r, err := Open(dir, Options{Vars: map[string]string{"SECRET_DOMAIN": "example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddListener("net/edge", plan.ListenerSpec{Name: "https-shop", Hostname: "shop.example.org", SecretName: "shop-tls"}); err != nil {
		t.Fatal(err)
	}
	if err := r.FlipRoute("web/shop", "net/edge", "https", "https-shop"); err != nil {
		t.Fatal(err)
	}
	// An unrelated change in the work tree must stay out of the commit.
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte("a: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hash, err := r.CommitWave(context.Background(), Wave{
		Number: 2, Done: 6, Total: 40, Hosts: []string{"shop.example.org"},
		Budget:   "1 certificate; 44 of 50 per registered domain left",
		Rollback: "revert this commit",
	})
	if err != nil {
		t.Fatal(err)
	}

	if got := strings.TrimSpace(git("rev-parse", "HEAD")); got != hash {
		t.Errorf("CommitWave returned %s, HEAD is %s", hash, got)
	}
	if got := strings.TrimSpace(git("branch", "--show-current")); got != "certwave/wave-2" {
		t.Errorf("branch %q, want certwave/wave-2", got)
	}
	wantMessage := "feat(network): per-app TLS migration wave 2 (6/40)\n\nHosts:\n- shop.${SECRET_DOMAIN}\n\n" +
		"Budget: 1 certificate; 44 of 50 per registered domain left\n\nRollback: revert this commit\n"
	if got := git("log", "-1", "--format=%B"); strings.TrimSpace(got) != strings.TrimSpace(wantMessage) {
		t.Errorf("commit message:\n%s\nwant\n%s", got, wantMessage)
	}
	if got := strings.Fields(git("show", "--name-only", "--format=", "HEAD")); strings.Join(got, ",") != "app/route.yaml,gw.yaml" {
		t.Errorf("committed files %v, want app/route.yaml and gw.yaml", got)
	}
	if got := git("status", "--porcelain"); strings.TrimSpace(got) != "M other.yaml" {
		t.Errorf("git status after the commit:\n%s\nwant only other.yaml modified", got)
	}

	if _, err := r.CommitWave(context.Background(), Wave{Number: 3}); err == nil || !strings.Contains(err.Error(), "no pending edits") {
		t.Errorf("CommitWave without edits: error %v, want no pending edits", err)
	}
}

func TestApplyRejectsWrongSplice(t *testing.T) {
	dir := writeTree(t, map[string]string{"gw.yaml": sortedGateway})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.lookup("Gateway", "net/edge")
	if err != nil {
		t.Fatal(err)
	}
	// The edited node tree sets the port of listener b to 8080, but the
	// splice writes 9090: apply must notice and restore the text.
	port := get(get(m.doc.root, "spec"), "listeners").Content[0].Content[5]
	s, err := replaceScalar(m.file, port, "9090")
	if err != nil {
		t.Fatal(err)
	}
	port.Value = "8080"
	err = apply(m.file, m.doc, false, []splice{s})
	if err == nil || !strings.Contains(err.Error(), "does not decode to the edited document") {
		t.Errorf("apply error %v, want a mismatch error", err)
	}
	if got := m.file.text(); got != sortedGateway {
		t.Errorf("file text after a rejected splice:\n%s", got)
	}
}

const twoRouteRelease = `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: shop
  namespace: web
spec:
  chartRef:
    kind: OCIRepository
    name: app-template
  values:
    route:
      main:
        parentRefs:
          - name: edge
            namespace: net
            sectionName: https
      admin:
        parentRefs:
          - name: edge
            namespace: net
`

func TestFlipRouteInHelmReleaseValues(t *testing.T) {
	dir := writeTree(t, map[string]string{"hr.yaml": twoRouteRelease})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// With two routes enabled, app-template names them <release>-<key>.
	if err := r.FlipRoute("web/shop-main", "net/edge", "https", "https-shop"); err != nil {
		t.Fatal(err)
	}
	// The admin parentRef has no sectionName, so flipping from "" adds one.
	if err := r.FlipRoute("web/shop-admin", "net/edge", "", "https-admin"); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(twoRouteRelease, "            sectionName: https\n", "            sectionName: https-shop\n", 1) +
		"            sectionName: https-admin\n"
	if got := r.files["hr.yaml"].text(); got != want {
		t.Errorf("HelmRelease after the flips:\n%s\nwant\n%s", got, want)
	}
	if err := r.FlipRoute("web/shop", "net/edge", "https", "x"); err == nil || !strings.Contains(err.Error(), "HTTPRoute web/shop not found") {
		t.Errorf("flip of the unsuffixed name: error %v, want not found", err)
	}
}

func TestCRLFLineEndingsKept(t *testing.T) {
	crlf := strings.ReplaceAll(sortedGateway, "\n", "\r\n")
	dir := writeTree(t, map[string]string{"gw.yaml": crlf})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddListener("net/edge", plan.ListenerSpec{Name: "c", Hostname: "c.example.org", SecretName: "c-tls"}); err != nil {
		t.Fatal(err)
	}
	got := r.files["gw.yaml"].text()
	if strings.Count(got, "\n") != strings.Count(got, "\r\n") {
		t.Errorf("edited file mixes line endings:\n%q", got)
	}
	if !strings.HasPrefix(got, crlf[:strings.Index(crlf, "    # d serves")]) {
		t.Errorf("the lines before the insertion changed:\n%q", got)
	}
}

func TestTemplatedOnlyDomainSuffix(t *testing.T) {
	r := &Repo{vars: map[string]string{"SECRET_DOMAIN": "example.com", "NS": "shop", "SUB": "app.example.com"}}
	cases := map[string]string{
		"shop.example.com":     "shop.${SECRET_DOMAIN}",
		"x.app.example.com":    "x.${SUB}",
		"shop-tls":             "shop-tls",
		"example.com":          "${SECRET_DOMAIN}",
		"shop.notexample.com":  "shop.notexample.com",
		"shop.example.com.org": "shop.example.com.org",
	}
	for in, want := range cases {
		if got := r.templated(in); got != want {
			t.Errorf("templated(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestApplyStepRejectsUnsupportedSteps(t *testing.T) {
	dir := writeTree(t, map[string]string{"gw.yaml": sortedGateway})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		step plan.Step
		want string
	}{
		{plan.Step{ID: "p1-ca", Kind: plan.StepCreateIssuer}, "needs a new manifest file"},
		{plan.Step{ID: "p4-cert", Kind: plan.StepCreateCert}, "needs a new manifest file"},
		{plan.Step{ID: "p3-add", Kind: plan.StepAddListener, Gateway: "net/edge"}, "names no listener"},
		{plan.Step{ID: "p4-del", Kind: plan.StepDeleteCert}, "names no Certificate"},
		{plan.Step{ID: "x", Kind: "teleport"}, `unknown kind "teleport"`},
	}
	for _, c := range cases {
		err := r.ApplyStep(c.step)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("step %s: error %v, want one containing %q", c.step.ID, err, c.want)
		}
	}
	if err := r.ApplyStep(plan.Step{ID: "soak", Kind: plan.StepSoak}); err != nil {
		t.Errorf("soak step: %v", err)
	}
	if d := r.Diff(); d != "" {
		t.Errorf("rejected steps left edits:\n%s", d)
	}
}

func TestAddListenerAfterTrailingComments(t *testing.T) {
	gateway := sortedGateway + "      # tls:\n      #   mode: Terminate\n    # next: the shop listener\n"
	dir := writeTree(t, map[string]string{"gw.yaml": gateway})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddListener("net/edge", plan.ListenerSpec{Name: "z", Hostname: "z.example.org"}); err != nil {
		t.Fatal(err)
	}
	// The commented-out field of listener f stays with f; the comment at
	// the dash column stays after the new listener.
	want := sortedGateway + "      # tls:\n      #   mode: Terminate\n" +
		"    - name: z\n      hostname: z.example.org\n      protocol: HTTPS\n      port: 443\n" +
		"    # next: the shop listener\n"
	if got := r.files["gw.yaml"].text(); got != want {
		t.Errorf("Gateway after adding z:\n%s\nwant\n%s", got, want)
	}
}

func TestOpenSkipsInvalidYAML(t *testing.T) {
	template := "{{- if .Values.gateway }}\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n{{- end }}\n"
	dir := writeTree(t, map[string]string{"gw.yaml": sortedGateway, "chart/templates/gateway.yaml": template})
	r, err := Open(dir)
	if err != nil {
		t.Fatalf("Open failed on a tree with a Helm template: %v", err)
	}
	if err := r.AnnotateGateway("net/edge", shimAnnotations); err != nil {
		t.Errorf("annotate a valid Gateway: %v", err)
	}
	err = r.AnnotateGateway("net/templated", shimAnnotations)
	if err == nil || !strings.Contains(err.Error(), "skipped as invalid YAML: chart/templates/gateway.yaml") {
		t.Errorf("lookup error %v, want one naming the skipped template", err)
	}
}

func TestFailedEditLeavesTreeUnchanged(t *testing.T) {
	route := strings.Replace(commentedRoute, "  rules:\n", "    - name: edge\n      namespace: net\n      sectionName: &section https\n  rules:\n", 1)
	dir := writeTree(t, map[string]string{"route.yaml": route})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = r.FlipRoute("web/shop", "net/edge", "https", "https-shop")
	if err == nil || !strings.Contains(err.Error(), "anchor or alias") {
		t.Fatalf("flip error %v, want one about the anchored sectionName", err)
	}
	if d := r.Diff(); d != "" {
		t.Errorf("a failed flip left edits:\n%s", d)
	}
	m, err := r.lookup("HTTPRoute", "web/shop")
	if err != nil {
		t.Fatal(err)
	}
	first := get(get(m.doc.root, "spec"), "parentRefs").Content[0]
	if got := scalar(get(first, "sectionName")); got != "https" {
		t.Errorf("node tree after a failed flip has sectionName %q, want https", got)
	}
}

func TestRemoveReflectionKeepsOtherAnnotations(t *testing.T) {
	cert := `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: wild
  namespace: net
spec:
  secretName: wild-tls
  secretTemplate:
    annotations:
      reflector.v1.k8s.emberstack.com/reflection-allowed: "true"
      team: edge # owner
      reflector.v1.k8s.emberstack.com/reflection-auto-enabled: "true"
    labels:
      tier: edge
`
	dir := writeTree(t, map[string]string{"cert.yaml": cert})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveReflection("net/wild"); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(strings.Replace(cert,
		"      reflector.v1.k8s.emberstack.com/reflection-allowed: \"true\"\n", "", 1),
		"      reflector.v1.k8s.emberstack.com/reflection-auto-enabled: \"true\"\n", "", 1)
	if got := r.files["cert.yaml"].text(); got != want {
		t.Errorf("Certificate after RemoveReflection:\n%s\nwant\n%s", got, want)
	}
	// Nothing is left to remove the second time.
	if err := r.RemoveReflection("net/wild"); err != nil {
		t.Errorf("second RemoveReflection: %v", err)
	}
	if err := r.RemoveListener("net/edge", "https"); err == nil {
		t.Error("RemoveListener on a tree without Gateways succeeded")
	}
}
