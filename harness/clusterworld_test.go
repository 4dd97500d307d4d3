package harness

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/topology"
)

// writeKubeconfig writes a kubeconfig with the contexts kind-test (the
// current one) and prod, both for server, and returns its path.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"c": {Server: server, InsecureSkipTLSVerify: true}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"u": {Token: "test"}},
		Contexts:       map[string]*clientcmdapi.Context{"kind-test": {Cluster: "c", AuthInfo: "u"}, "prod": {Cluster: "c", AuthInfo: "u"}},
		CurrentContext: "kind-test",
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// countingServer returns a stand-in for an API server that counts the
// requests it gets and responds to each with 503.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		http.Error(w, "no API server here", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func builtinScenario(t *testing.T, name string) *scenarios.Scenario {
	t.Helper()
	list, err := scenarios.LoadDir(scenarios.Builtin, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("the built-in scenario %s is missing", name)
	return nil
}

func scenarioInventory(t *testing.T, s *scenarios.Scenario) *topology.Inventory {
	t.Helper()
	inv, err := (&run{s: s}).inventory()
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestClusterOptInNamesContext(t *testing.T) {
	path := writeKubeconfig(t, "https://127.0.0.1:1")
	cases := []struct {
		name    string
		opts    ClusterOptions
		want    string
		wantErr []string
	}{
		{name: "no kubeconfig", opts: ClusterOptions{DisposableContext: "kind-test"}, wantErr: []string{EnvKubeconfig, "--kubeconfig"}},
		{name: "no opt-in", opts: ClusterOptions{Kubeconfig: path},
			wantErr: []string{`context "kind-test"`, EnvDisposableContext + "=kind-test", "--disposable-context kind-test"}},
		{name: "opt-in for another context", opts: ClusterOptions{Kubeconfig: path, DisposableContext: "prod"},
			wantErr: []string{`"prod"`, `"kind-test"`, EnvDisposableContext + "=kind-test"}},
		{name: "unknown context", opts: ClusterOptions{Kubeconfig: path, Context: "staging", DisposableContext: "staging"},
			wantErr: []string{`context "staging" not found`}},
		{name: "current context named", opts: ClusterOptions{Kubeconfig: path, DisposableContext: "kind-test"}, want: "kind-test"},
		{name: "selected context named", opts: ClusterOptions{Kubeconfig: path, Context: "prod", DisposableContext: "prod"}, want: "prod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckClusterOptIn(tc.opts)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("CheckClusterOptIn: %v", err)
				}
				if got != tc.want {
					t.Errorf("context = %q, want %q", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckClusterOptIn accepted %+v", tc.opts)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// TestClusterRunStopsBeforeConnecting runs scenarios on a cluster world
// whose checks fail before it needs the API server, and asserts that no
// request reached it.
func TestClusterRunStopsBeforeConnecting(t *testing.T) {
	srv, requests := countingServer(t)
	path := writeKubeconfig(t, srv.URL)
	ctx := context.Background()

	r := Run(ctx, builtinScenario(t, "local-smoke"), Options{World: "cluster", Seed: 1,
		Cluster: ClusterOptions{Kubeconfig: path, TimeScale: DefaultLocalTimeScale}})
	if r.Verdict != VerdictFail {
		t.Errorf("without the opt-in: verdict %s (%s), want fail", r.Verdict, r.Unsupported)
	}
	if !strings.Contains(strings.Join(r.Failures, "; "), EnvDisposableContext+"=kind-test") {
		t.Errorf("without the opt-in: failures %v do not name %s=kind-test", r.Failures, EnvDisposableContext)
	}

	r = Run(ctx, builtinScenario(t, "local-smoke"), Options{World: "cluster", Seed: 1,
		Cluster: ClusterOptions{Kubeconfig: path, DisposableContext: "kind-test"}})
	if r.Verdict != VerdictUnsupported || !strings.Contains(r.Unsupported, "wall-hours") {
		t.Errorf("1.5 days of plan in real time: verdict %s (%q), want unsupported for wall-hours", r.Verdict, r.Unsupported)
	}

	r = Run(ctx, builtinScenario(t, "shim-disabled"), Options{World: "cluster", Seed: 1,
		Cluster: ClusterOptions{Kubeconfig: path, DisposableContext: "kind-test", TimeScale: DefaultLocalTimeScale}})
	if r.Verdict != VerdictUnsupported || !strings.Contains(r.Unsupported, "gatewayAPIEnabled: false") {
		t.Errorf("a scenario that turns the gateway-shim off: verdict %s (%q), want unsupported for gatewayAPIEnabled", r.Verdict, r.Unsupported)
	}

	if n := requests.Load(); n != 0 {
		t.Errorf("the API server got %d requests, want none", n)
	}
}

func TestClusterUnsupportedNeeds(t *testing.T) {
	for _, need := range []string{"faults", "lock-out-time", "virtual-months", "compressed-backoff", "compressed-dns01", "short-renew-before", "wall-hours"} {
		if reason := worldUnsupported(Options{World: "cluster"}, need); reason == "" {
			t.Errorf("the cluster world declares %s supported", need)
		}
	}
	if reason := worldUnsupported(Options{World: "cluster"}, "gateway-data-plane"); reason != "" {
		t.Errorf("the cluster world declares its own data plane unsupported: %s", reason)
	}
	if got := worldTimeScale(Options{World: "cluster"}); got != 1 {
		t.Errorf("time scale of the cluster world without options = %d, want 1", got)
	}
	if got := worldTimeScale(Options{World: "cluster", Cluster: ClusterOptions{TimeScale: 60}}); got != 60 {
		t.Errorf("time scale of the cluster world with TimeScale 60 = %d, want 60", got)
	}
}

// fakeCluster returns a fake API server that serves every kind of the
// cluster world, holding objects.
func fakeCluster(objects ...client.Object) client.WithWatch {
	scheme := clusterScheme()
	clusterScoped := map[string]bool{"Namespace": true, "ClusterIssuer": true, "GatewayClass": true}
	mapper := meta.NewDefaultRESTMapper(nil)
	for gvk := range scheme.AllKnownTypes() {
		scope := meta.RESTScopeNamespace
		if clusterScoped[gvk.Kind] {
			scope = meta.RESTScopeRoot
		}
		mapper.Add(gvk, scope)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithRESTMapper(mapper).WithObjects(objects...).
		WithStatusSubresource(&cmapi.ClusterIssuer{}, &gwapiv1.GatewayClass{}).WithReturnManagedFields().Build()
}

// appliedBy returns the managed fields an apply by manager leaves. The
// fake API server records none for cert-manager's kinds, so tests set
// them as a real one does.
func appliedBy(manager string) []metav1.ManagedFieldsEntry {
	return []metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "cert-manager.io/v1",
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}}
}

func readyIssuer(name, profile string) *cmapi.ClusterIssuer {
	return &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{ACME: &cmacme.ACMEIssuer{
			Server: "https://acme-staging-v02.api.letsencrypt.org/directory", Profile: profile}}},
		Status: cmapi.IssuerStatus{Conditions: []cmapi.IssuerCondition{{Type: cmapi.IssuerConditionReady, Status: cmmeta.ConditionTrue}}},
	}
}

func testClusterWorld(c client.WithWatch, opts ClusterOptions) *ClusterWorld {
	return &ClusterWorld{opts: opts, admin: c, context: "kind-test", log: testLogger()}
}

func TestClusterPreflightMissingCRDs(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Namespace"), meta.RESTScopeRoot)
	c := fake.NewClientBuilder().WithScheme(clusterScheme()).WithRESTMapper(mapper).Build()
	s := builtinScenario(t, "local-smoke")

	err := testClusterWorld(c, ClusterOptions{}).preflight(context.Background(), scenarioInventory(t, s), s)
	var unsupported *unsupportedError
	if !errors.As(err, &unsupported) {
		t.Fatalf("preflight without the CRDs: %v, want an unsupported error", err)
	}
	for _, k := range clusterCRDs {
		if !strings.Contains(unsupported.reason, k.crd) {
			t.Errorf("reason %q does not name the missing CRD %s", unsupported.reason, k.crd)
		}
	}
	if !strings.HasPrefix(unsupported.reason, "in world cluster: CRDs: ") {
		t.Errorf("reason %q does not start with the world and the capability", unsupported.reason)
	}
}

func TestClusterPreflightIssuersAndController(t *testing.T) {
	s := builtinScenario(t, "local-smoke")
	inv := scenarioInventory(t, s)
	notReady := readyIssuer("letsencrypt-production", "")
	notReady.Status.Conditions[0].Status = cmmeta.ConditionFalse
	notReady.Status.Conditions[0].Message = "account not registered"
	shortlived := &scenarios.Scenario{World: scenarios.World{Profile: "shortlived"}}
	cases := []struct {
		name     string
		objects  []client.Object
		scenario *scenarios.Scenario
		opts     ClusterOptions
		want     string
	}{
		{name: "no ACME issuer", scenario: s, want: "ACME issuer: ClusterIssuer/letsencrypt-production not found"},
		{name: "issuer not Ready", scenario: s, objects: []client.Object{notReady}, want: "is not Ready: Ready=False, reason : account not registered"},
		{name: "other profile", scenario: shortlived, objects: []client.Object{readyIssuer("letsencrypt-production", "")},
			want: "needs ACME profile shortlived, but ClusterIssuer/letsencrypt-production requests classic"},
		{name: "no controller", scenario: s, objects: []client.Object{readyIssuer("letsencrypt-production", "")},
			opts: ClusterOptions{ReadyTimeout: time.Second}, want: "cert-manager controller: the self-signed ClusterIssuer"},
		{name: "time scale on an unmarked cluster", scenario: s, opts: ClusterOptions{TimeScale: 1440}, want: "not marked as a test stack"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeCluster(tc.objects...)
			err := testClusterWorld(c, tc.opts).preflight(context.Background(), inv, tc.scenario)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("preflight: %v, want an error containing %q", err, tc.want)
			}
			var issuers cmapi.ClusterIssuerList
			if err := c.List(context.Background(), &issuers, client.HasLabels{ClusterWorldLabel}); err != nil {
				t.Fatal(err)
			}
			if len(issuers.Items) != 0 {
				t.Errorf("preflight left %d labelled ClusterIssuers, first %s", len(issuers.Items), issuers.Items[0].Name)
			}
		})
	}
}

func TestScopedClientListsScenarioNamespaces(t *testing.T) {
	c := fakeCluster(
		&cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "ours"}},
		&cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "theirs"}},
		readyIssuer("letsencrypt-production", ""),
	)
	scoped := scopedClient(c, []string{"network"})
	var certs cmapi.CertificateList
	if err := scoped.List(context.Background(), &certs); err != nil {
		t.Fatal(err)
	}
	if len(certs.Items) != 1 || certs.Items[0].Name != "ours" {
		t.Errorf("listed %d Certificates (%v), want only network/ours", len(certs.Items), certs.Items)
	}
	var issuers cmapi.ClusterIssuerList
	if err := scoped.List(context.Background(), &issuers); err != nil {
		t.Fatal(err)
	}
	if len(issuers.Items) != 1 {
		t.Errorf("listed %d ClusterIssuers, want the cluster-scoped one", len(issuers.Items))
	}
	var theirs cmapi.Certificate
	if err := scoped.Get(context.Background(), client.ObjectKey{Namespace: "tenant", Name: "theirs"}, &theirs); err != nil {
		t.Errorf("Get of another namespace's object: %v", err)
	}
}

func TestRunIDIsLabelValue(t *testing.T) {
	at := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	for _, name := range []string{"local-smoke", "Reference Hybrid!", strings.Repeat("very-long-scenario-name-", 5), "---"} {
		id := runID(name, at)
		if errs := validation.IsValidLabelValue(id); len(errs) > 0 {
			t.Errorf("runID(%q) = %q, not a label value: %v", name, id, errs)
		}
		if !strings.HasSuffix(id, "20270104t090000") {
			t.Errorf("runID(%q) = %q, want the start time at its end", name, id)
		}
	}
}

func TestProbeTargetsFollowClientPaths(t *testing.T) {
	inv := &topology.Inventory{
		Gateways: []topology.Gateway{
			{Namespace: "network", Name: "external", Listeners: []topology.Listener{{Name: "https", Port: 443, Protocol: topology.ProtocolHTTPS, AllowedNamespaces: "All"}}},
			{Namespace: "network", Name: "internal", Listeners: []topology.Listener{{Name: "https", Port: 443, Protocol: topology.ProtocolHTTPS, AllowedNamespaces: "All"}}},
		},
		Routes: []topology.Route{
			{Namespace: "apps", Name: "blog", Hostnames: []string{"blog.example.com"}, ParentRefs: []topology.ParentRef{{Namespace: "network", Name: "external"}}},
			{Namespace: "apps", Name: "nas", Hostnames: []string{"nas.example.com", "*.example.com"}, ParentRefs: []topology.ParentRef{{Namespace: "network", Name: "internal"}}},
		},
	}
	paths := []topology.ClientPath{
		{Name: "direct", Kind: topology.ClientPathDirect},
		{Name: "tunnel", Kind: topology.ClientPathFixedSNI, Gateway: "network/external", ServerName: "example.com"},
		{Name: "vpn", Kind: topology.ClientPathDirect, Hostnames: []string{"nas.example.com"}},
	}
	got := probeTargets(inv, paths)
	want := []probeTarget{{"blog.example.com", "direct"}, {"blog.example.com", "tunnel"}, {"nas.example.com", "direct"}, {"nas.example.com", "vpn"}}
	if len(got) != len(want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("target %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestClusterRunCreatesAndCleansUp(t *testing.T) {
	ctx := context.Background()
	s := builtinScenario(t, "local-smoke")
	inv := scenarioInventory(t, s)
	accepted := &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "envoy"},
		Spec:   gwapiv1.GatewayClassSpec{ControllerName: "gateway.envoyproxy.io/gatewayclass-controller"},
		Status: gwapiv1.GatewayClassStatus{Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted"}}}}
	theirs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cert-manager", Name: "cert-manager-webhook-ca"}}
	c := fakeCluster(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager"}}, accepted, theirs,
		readyIssuer("letsencrypt-production", ""))

	objects := seedObjects(t, inv)
	r := newClusterRun(c, s.Name, testLogger())
	if err := r.create(ctx, inv, objects, time.Second); err != nil {
		t.Fatalf("create: %v", err)
	}
	for _, o := range r.created {
		if o.GetLabels()[ClusterWorldLabel] != r.id {
			t.Errorf("%s created without label %s=%s", r.key(o), ClusterWorldLabel, r.id)
		}
		if _, ok := o.(*gwapiv1.GatewayClass); ok {
			t.Errorf("created GatewayClass %s, which the cluster has", o.GetName())
		}
		if o.GetName() == "letsencrypt-production" {
			t.Errorf("created the ACME issuer %s, which the cluster has", r.key(o))
		}
	}
	if !r.ownNamespaces["network"] || !r.ownNamespaces["apps"] || r.ownNamespaces["cert-manager"] {
		t.Errorf("own namespaces %v, want network and apps but not cert-manager", r.ownNamespaces)
	}

	again := newClusterRun(c, s.Name, testLogger())
	err := again.create(ctx, inv, objects, time.Second)
	if err == nil || !strings.Contains(err.Error(), "Certificate/network/example.com") || !strings.Contains(err.Error(), "-l "+ClusterWorldLabel) {
		t.Errorf("a second run over the first one's objects: %v, want an error naming them and the cleanup command", err)
	}

	// What the engine and cert-manager create during a run, outside the
	// run's namespaces.
	private := &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "certwave-private-ca", ManagedFields: appliedBy(engine.FieldManager)},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "certwave-private-ca"}}}}
	root := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "cert-manager", Name: "certwave-private-ca", ManagedFields: appliedBy(engine.FieldManager)},
		Spec: cmapi.CertificateSpec{SecretName: "certwave-private-ca", IsCA: true}}
	for _, o := range []client.Object{private, root} {
		if err := c.Create(ctx, o, client.FieldOwner(engine.FieldManager)); err != nil {
			t.Fatal(err)
		}
	}
	issued := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cert-manager", Name: "certwave-private-ca",
		Annotations: map[string]string{cmapi.CertificateNameKey: "certwave-private-ca"}}}
	if err := c.Create(ctx, issued, client.FieldOwner("cert-manager-certificates-issuing")); err != nil {
		t.Fatal(err)
	}

	if err := r.cleanup(ctx, false); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	for _, o := range append(append([]client.Object{}, r.created...), private, root, issued) {
		err := c.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopyObject().(client.Object))
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s still exists after cleanup (%v)", r.key(o), err)
		}
	}
	for _, o := range []client.Object{accepted, theirs, readyIssuer("letsencrypt-production", ""), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager"}}} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopyObject().(client.Object)); err != nil {
			t.Errorf("cleanup deleted %s, which the run did not create: %v", r.key(o), err)
		}
	}
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
