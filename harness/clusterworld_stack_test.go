package harness

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/sim/dns"
	"github.com/certwave/certwave/sim/model"
	"github.com/certwave/certwave/sim/stack/local"
)

// envoyGatewayControllerName is the controllerName of the GatewayClasses
// the model builds for Envoy Gateway, which the stand-in gateway
// controller accepts.
const envoyGatewayControllerName = "gateway.envoyproxy.io/gatewayclass-controller"

// requireLocalStack skips the test where the local stack's components or
// BIND are missing, unless CERTWAVE_LOCAL_REQUIRED=1, as in CI, makes
// that a failure.
func requireLocalStack(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the local stack and waits for real issuances; skipped with -short")
	}
	required := os.Getenv("CERTWAVE_LOCAL_REQUIRED") == "1"
	var missing *local.MissingBinariesError
	if err := local.DefaultBinaries(local.DefaultCacheDir()).Check(); errors.As(err, &missing) {
		if required {
			t.Fatalf("local stack not available: %v", err)
		}
		t.Skipf("local stack not available: %v", err)
	}
	if _, err := dns.FindNamed(); err != nil {
		if required {
			t.Fatalf("BIND not available: %v", err)
		}
		t.Skipf("BIND not available: %v", err)
	}
}

// TestClusterWorldOnLocalStack opens the cluster world through the local
// stack's kubeconfig file, as it opens a disposable test cluster. The
// stack gives the API server, cert-manager and the ACME ClusterIssuer
// (Pebble behind the rate-limit front). The model's Envoy Gateway
// controller, run against the API server, replaces the cluster's gateway
// controller and data plane. The test checks the rejections and
// unsupported verdicts on that cluster, runs local-smoke to a pass, and
// checks that the world deleted what it created and nothing else.
func TestClusterWorldOnLocalStack(t *testing.T) {
	requireLocalStack(t)
	ctx := context.Background()
	smoke := builtinScenario(t, "local-smoke")
	inv := scenarioInventory(t, smoke)

	st, err := local.Start(ctx, local.Options{
		Log:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ACME: &local.ACMEOptions{Zones: registeredDomains(inv), Profile: smoke.World.Profile, TimeScale: DefaultLocalTimeScale},
	})
	if err != nil {
		t.Fatalf("starting the local stack: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping the local stack: %v", err)
		}
	})
	startNamespaceController(t, st)
	admin, err := client.NewWithWatch(st.RESTConfig(), client.Options{Scheme: clusterScheme()})
	if err != nil {
		t.Fatal(err)
	}
	opts := ClusterOptions{Kubeconfig: st.Kubeconfig(), TimeScale: DefaultLocalTimeScale, ReadyTimeout: 20 * time.Second}
	run := func(s *scenarios.Scenario, o ClusterOptions) Result {
		t.Helper()
		r := Run(ctx, s, Options{World: "cluster", Seed: 1, Cluster: o})
		t.Logf("%s: %s %s; failures %v; notes %v", s.Name, r.Verdict, r.Unsupported, r.Failures, r.Notes)
		return r
	}

	if r := run(smoke, opts); r.Verdict != VerdictFail || !strings.Contains(strings.Join(r.Failures, " "), EnvDisposableContext+"=certwave") {
		t.Errorf("without the opt-in: verdict %s, failures %v; want a failure naming %s=certwave", r.Verdict, r.Failures, EnvDisposableContext)
	}
	opts.DisposableContext = "certwave"
	if r := run(smoke, opts); r.Verdict != VerdictFail || !strings.Contains(strings.Join(r.Failures, " "), "not marked as a test stack") {
		t.Errorf("a time scale on an unmarked cluster: verdict %s, failures %v; want a failure naming the test-stack mark", r.Verdict, r.Failures)
	}
	markTestStack(t, admin)

	staging := renamedIssuerScenario(t, "letsencrypt-staging")
	if r := run(staging, opts); r.Verdict != VerdictUnsupported || !strings.Contains(r.Unsupported, "ClusterIssuer/letsencrypt-staging not found") {
		t.Errorf("an ACME issuer the cluster lacks: verdict %s (%q), want unsupported naming it", r.Verdict, r.Unsupported)
	}
	if r := run(smoke, opts); r.Verdict != VerdictUnsupported || !strings.Contains(r.Unsupported, "gateway controller: GatewayClass envoy") {
		t.Errorf("no gateway controller: verdict %s (%q), want unsupported naming the GatewayClass", r.Verdict, r.Unsupported)
	}
	requireCleanedUp(t, admin)

	mirror, err := model.NewMirror(inv, model.Options{Start: time.Now(), EnvoyGatewayVersion: smoke.World.EnvoyGatewayVersion}, admin)
	if err != nil {
		t.Fatal(err)
	}
	stop := runGatewayController(t, admin, mirror)
	defer stop()
	opts.Prober = mirror.Prober()
	opts.ReadyTimeout = 5 * time.Minute
	r := run(smoke, opts)
	if r.Verdict != VerdictPass {
		t.Errorf("local-smoke on the cluster world: %s %s; failures: %v", r.Verdict, r.Unsupported, r.Failures)
	}
	if r.ACMEOrders != 5 {
		t.Errorf("local-smoke counted %d ACME orders from the cluster's Orders, want the 5 of the canary, its renewal and the wave", r.ACMEOrders)
	}
	stop()
	requireCleanedUp(t, admin)

	var issuer cmapi.ClusterIssuer
	if err := admin.Get(ctx, client.ObjectKey{Name: local.DefaultACMEIssuerName}, &issuer); err != nil {
		t.Errorf("the cluster's ACME ClusterIssuer after the runs: %v", err)
	}
}

// startNamespaceController starts a second kube-controller-manager with
// only the namespace controller, which the stack leaves out and every
// cluster runs: it deletes the contents of a deleted Namespace, then the
// Namespace.
func startNamespaceController(t *testing.T, st *local.Stack) {
	t.Helper()
	_, err := st.StartProcess(context.Background(), local.ProcessSpec{
		Name: "kube-controller-manager-namespace",
		Path: local.DefaultBinaries(local.DefaultCacheDir()).KubeControllerManager,
		Args: []string{"--kubeconfig", st.Kubeconfig(), "--controllers", "namespace", "--leader-elect=false",
			"--bind-address", "127.0.0.1", "--secure-port", "0"},
	})
	if err != nil {
		t.Fatalf("starting the namespace controller: %v", err)
	}
}

// markTestStack labels Namespace kube-system as a test stack's.
func markTestStack(t *testing.T, c client.Client) {
	t.Helper()
	var ns corev1.Namespace
	if err := c.Get(context.Background(), client.ObjectKey{Name: testStackNamespace}, &ns); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[testStackLabel] = "true"
	if err := c.Patch(context.Background(), &ns, patch); err != nil {
		t.Fatalf("labelling Namespace %s: %v", testStackNamespace, err)
	}
}

// renamedIssuerScenario returns local-smoke with its ACME ClusterIssuer
// renamed.
func renamedIssuerScenario(t *testing.T, issuer string) *scenarios.Scenario {
	t.Helper()
	data, err := fs.ReadFile(scenarios.Builtin, "15-local-smoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), local.DefaultACMEIssuerName, issuer)
	s, err := scenarios.Parse("15-local-smoke-"+issuer+".yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runGatewayController runs the stand-in gateway controller until the
// returned function is called: every half second it accepts the
// GatewayClasses of Envoy Gateway's controllerName, as Envoy Gateway
// does, and syncs the mirror, which writes Gateway and route status and
// reflector's mirrors.
func runGatewayController(t *testing.T, c client.Client, mirror *model.Mirror) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go runEvery(ctx, mirrorInterval, done, func(ctx context.Context) {
		if err := acceptGatewayClasses(ctx, c); err != nil && ctx.Err() == nil {
			t.Logf("stand-in gateway controller: %v", err)
		}
		if _, err := mirror.Sync(ctx, time.Now()); err != nil && ctx.Err() == nil {
			t.Logf("stand-in gateway controller: %v", err)
		}
	})
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
}

// acceptGatewayClasses sets Accepted=True on every GatewayClass of Envoy
// Gateway's controllerName that lacks it.
func acceptGatewayClasses(ctx context.Context, c client.Client) error {
	var classes gwapiv1.GatewayClassList
	if err := c.List(ctx, &classes); err != nil {
		return err
	}
	for i := range classes.Items {
		gc := &classes.Items[i]
		if gc.Spec.ControllerName != envoyGatewayControllerName || meta.IsStatusConditionTrue(gc.Status.Conditions, "Accepted") {
			continue
		}
		meta.SetStatusCondition(&gc.Status.Conditions, metav1.Condition{Type: "Accepted", Status: metav1.ConditionTrue,
			Reason: "Accepted", Message: "accepted by the test's stand-in controller", ObservedGeneration: gc.Generation})
		if err := c.Status().Update(ctx, gc); err != nil && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// requireCleanedUp waits until no object labelled ClusterWorldLabel, and
// none of the namespaces the runs created, is left, and until the private
// CA ClusterIssuer the engine creates is gone.
func requireCleanedUp(t *testing.T, c client.Client) {
	t.Helper()
	var left []string
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		left = nil
		lists := []client.ObjectList{&corev1.NamespaceList{}, &gwapiv1.GatewayClassList{}, &cmapi.ClusterIssuerList{}, &cmapi.CertificateList{}, &corev1.SecretList{}}
		for _, list := range lists {
			if err := c.List(ctx, list, client.HasLabels{ClusterWorldLabel}); err != nil {
				return false, err
			}
			items, err := meta.ExtractList(list)
			if err != nil {
				return false, err
			}
			for _, item := range items {
				o := item.(client.Object)
				left = append(left, strings.TrimPrefix(o.GetNamespace()+"/"+o.GetName(), "/"))
			}
		}
		for _, name := range []string{"network", "apps"} {
			if err := c.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
				left = append(left, "Namespace "+name)
			}
		}
		if err := c.Get(ctx, client.ObjectKey{Name: "certwave-private-ca"}, &cmapi.ClusterIssuer{}); !apierrors.IsNotFound(err) {
			left = append(left, "ClusterIssuer certwave-private-ca")
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("objects left after the cluster world closed: %s (%v)", strings.Join(left, ", "), err)
	}
}
