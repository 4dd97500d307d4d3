package harness

import (
	"context"
	"fmt"
	"strings"
	"time"

	acmev1 "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/internal/kubecluster"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/topology"
)

// testStackLabel on Namespace kube-system marks a cluster built for tests.
// Only such a cluster accepts a time scale above 1, here as in certwave run
// --time-scale.
const (
	testStackLabel     = "certwave.io/test-stack"
	testStackNamespace = "kube-system"
)

// controllerCheckTimeout bounds the wait for cert-manager to set a
// self-signed ClusterIssuer Ready, which takes well under a second on a
// running controller.
const controllerCheckTimeout = time.Minute

// clusterCRDs are the kinds the cluster world needs, with their CRDs.
var clusterCRDs = []struct {
	gvk schema.GroupVersionKind
	crd string
}{
	{cmapi.SchemeGroupVersion.WithKind("Certificate"), "certificates.cert-manager.io"},
	{cmapi.SchemeGroupVersion.WithKind("CertificateRequest"), "certificaterequests.cert-manager.io"},
	{cmapi.SchemeGroupVersion.WithKind("Issuer"), "issuers.cert-manager.io"},
	{cmapi.SchemeGroupVersion.WithKind("ClusterIssuer"), "clusterissuers.cert-manager.io"},
	{acmev1.SchemeGroupVersion.WithKind("Order"), "orders.acme.cert-manager.io"},
	{gwapiv1.SchemeGroupVersion.WithKind("GatewayClass"), "gatewayclasses.gateway.networking.k8s.io"},
	{gwapiv1.SchemeGroupVersion.WithKind("Gateway"), "gateways.gateway.networking.k8s.io"},
	{gwapiv1.SchemeGroupVersion.WithKind("HTTPRoute"), "httproutes.gateway.networking.k8s.io"},
}

// CheckClusterOptIn reads the kubeconfig of o and returns the name of the
// context in use. It returns an error naming the fix when o has no
// kubeconfig or when o.DisposableContext does not name that context. It
// does not connect to the cluster.
func CheckClusterOptIn(o ClusterOptions) (string, error) {
	_, name, err := o.target()
	return name, err
}

// CheckClusterReachable requests the version of the API server of the
// context in use. A suite on a cluster it cannot reach then fails once,
// before any scenario, instead of once per scenario.
func CheckClusterReachable(ctx context.Context, o ClusterOptions) error {
	cfg, name, err := o.target()
	if err != nil {
		return err
	}
	if err := kubecluster.CheckReachable(cfg, name, o.Kubeconfig); err != nil {
		return fmt.Errorf("cluster world: %w", err)
	}
	return nil
}

// target returns the REST configuration and name of the context in use,
// once the operator has named it as disposable.
func (o ClusterOptions) target() (*rest.Config, string, error) {
	if o.Kubeconfig == "" {
		return nil, "", fmt.Errorf("the cluster world needs a kubeconfig: pass --kubeconfig FILE (make e2e KUBECONFIG=FILE), or set %s; "+
			"KUBECONFIG is not read, so that a rehearsal never reaches the cluster a shell happens to point at", EnvKubeconfig)
	}
	cfg, name, err := kubecluster.Load(o.Kubeconfig, o.Context)
	if err != nil {
		return nil, "", fmt.Errorf("cluster world: %w", err)
	}
	const risk = "the cluster world creates and deletes objects there and places ACME orders through its issuers"
	switch o.DisposableContext {
	case name:
		return cfg, name, nil
	case "":
		return nil, "", fmt.Errorf("context %q of kubeconfig %s is not named as disposable: %s. "+
			"If it is a disposable test cluster, set %s=%s (certwave simulate: --disposable-context %s)",
			name, o.Kubeconfig, risk, EnvDisposableContext, name, name)
	default:
		return nil, "", fmt.Errorf("the disposable context is %q, but the context in use is %q of kubeconfig %s: %s. "+
			"Name the context in use (%s=%s), or select the disposable one with --context",
			o.DisposableContext, name, o.Kubeconfig, risk, EnvDisposableContext, name)
	}
}

// preflight checks what every scenario needs from the cluster before the
// world creates anything: the test-stack mark for a time scale, the CRDs,
// the scenario's ACME issuers and a running cert-manager controller.
func (w *ClusterWorld) preflight(ctx context.Context, inv *topology.Inventory, s *scenarios.Scenario) error {
	if scale := w.opts.timeScale(); scale > 1 {
		if err := checkTestStack(ctx, w.admin, w.context, scale); err != nil {
			return err
		}
	}
	missing, err := missingCRDs(w.admin)
	if err != nil {
		return fmt.Errorf("cluster world: reading the API server's kinds: %w", err)
	}
	if len(missing) > 0 {
		return unsupportedInCluster("CRDs", fmt.Sprintf("%s not installed; install cert-manager with its CRDs and the Gateway API standard CRDs",
			strings.Join(missing, ", ")))
	}
	if err := w.checkACMEIssuers(ctx, inv, s.World.Profile); err != nil {
		return err
	}
	return w.checkCertManagerRunning(ctx)
}

// checkTestStack returns an error unless Namespace kube-system carries the
// test-stack label.
func checkTestStack(ctx context.Context, c client.Client, contextName string, scale int) error {
	var ns corev1.Namespace
	err := c.Get(ctx, client.ObjectKey{Name: testStackNamespace}, &ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("cluster world: checking whether context %s is a test stack (Namespace %s): %w", contextName, testStackNamespace, err)
	}
	if err == nil && ns.Labels[testStackLabel] == "true" {
		return nil
	}
	return fmt.Errorf("invalid time scale %d: the cluster of context %s is not marked as a test stack (label %s=true on Namespace %s), "+
		"so its cert-manager backoff and ACME limits run in real time; leave the time scale out",
		scale, contextName, testStackLabel, testStackNamespace)
}

// missingCRDs returns the CRDs of clusterCRDs whose kinds the API server
// does not serve.
func missingCRDs(c client.Client) ([]string, error) {
	var missing []string
	for _, k := range clusterCRDs {
		_, err := c.RESTMapper().RESTMapping(k.gvk.GroupKind(), k.gvk.Version)
		if meta.IsNoMatchError(err) {
			missing = append(missing, k.crd)
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return missing, nil
}

// checkACMEIssuers requires every ACME issuer of the inventory to exist in
// the cluster, Ready, and to request the scenario's ACME profile. The
// cluster world never creates an ACME issuer, because one names a real
// ACME account and DNS credentials.
func (w *ClusterWorld) checkACMEIssuers(ctx context.Context, inv *topology.Inventory, profile string) error {
	for _, is := range inv.Issuers {
		if is.Type != topology.IssuerACME {
			continue
		}
		ref := is.Kind + "/" + is.Name
		var obj client.Object = &cmapi.ClusterIssuer{}
		key := client.ObjectKey{Name: is.Name}
		if is.Kind != cmapi.ClusterIssuerKind {
			obj, key = &cmapi.Issuer{}, client.ObjectKey{Namespace: is.Namespace, Name: is.Name}
			ref = is.Kind + "/" + is.Namespace + "/" + is.Name
		}
		err := w.admin.Get(ctx, key, obj)
		if apierrors.IsNotFound(err) {
			return unsupportedInCluster("ACME issuer", fmt.Sprintf("%s not found; the cluster world uses the cluster's own ACME issuers, "+
				"so create %s pointing at a test ACME server (Let's Encrypt staging or Pebble) and wait until it is Ready", ref, ref))
		}
		if err != nil {
			return fmt.Errorf("cluster world: reading %s: %w", ref, err)
		}
		spec, status := issuerSpecStatus(obj)
		if spec.ACME == nil {
			return unsupportedInCluster("ACME issuer", fmt.Sprintf("%s in the cluster is not an ACME issuer", ref))
		}
		if reason := notReady(status); reason != "" {
			return unsupportedInCluster("ACME issuer", fmt.Sprintf("%s is not Ready: %s", ref, reason))
		}
		if profile != "" && orClassic(spec.ACME.Profile) != profile {
			return unsupportedInCluster("ACME issuer", fmt.Sprintf("the scenario needs ACME profile %s, but %s requests %s", profile, ref, orClassic(spec.ACME.Profile)))
		}
		w.note("ACME issuer %s: server %s, profile %s", ref, spec.ACME.Server, orClassic(spec.ACME.Profile))
	}
	return nil
}

func issuerSpecStatus(obj client.Object) (cmapi.IssuerSpec, cmapi.IssuerStatus) {
	if ci, ok := obj.(*cmapi.ClusterIssuer); ok {
		return ci.Spec, ci.Status
	}
	is := obj.(*cmapi.Issuer)
	return is.Spec, is.Status
}

// notReady returns why an issuer is not Ready, or "" when it is.
func notReady(status cmapi.IssuerStatus) string {
	for _, c := range status.Conditions {
		if c.Type == cmapi.IssuerConditionReady {
			if c.Status == cmmeta.ConditionTrue {
				return ""
			}
			return fmt.Sprintf("Ready=%s, reason %s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return "no Ready condition"
}

// orClassic returns profile, or "classic", the profile Let's Encrypt picks
// for an order that names none.
func orClassic(profile string) string {
	if profile == "" {
		return "classic"
	}
	return profile
}

// checkCertManagerRunning creates a self-signed ClusterIssuer and waits
// until cert-manager sets it Ready, which proves that a controller
// reconciles issuers now, however it is deployed. It deletes the
// ClusterIssuer before it returns.
func (w *ClusterWorld) checkCertManagerRunning(ctx context.Context) error {
	issuer := &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("certwave-preflight-%d", time.Now().UnixNano()),
			Labels: map[string]string{ClusterWorldLabel: "preflight"}},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}},
	}
	if err := w.admin.Create(ctx, issuer, client.FieldOwner(clusterFieldOwner)); err != nil {
		return unsupportedInCluster("cert-manager controller", fmt.Sprintf("creating the self-signed ClusterIssuer %s failed "+
			"(is cert-manager's webhook running?): %v", issuer.Name, err))
	}
	defer func() {
		if err := w.admin.Delete(context.WithoutCancel(ctx), issuer); err != nil && !apierrors.IsNotFound(err) {
			w.log.Error("deleting the preflight ClusterIssuer", "name", issuer.Name, "error", err)
		}
	}()
	timeout := min(controllerCheckTimeout, w.opts.readyTimeout())
	// last is the condition read last. A failed read leaves it as it was,
	// because the read cut short by the timeout fails too.
	last := "no Ready condition"
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var got cmapi.ClusterIssuer
		if err := w.admin.Get(ctx, client.ObjectKeyFromObject(issuer), &got); err != nil {
			w.log.Warn("reading the preflight ClusterIssuer", "name", issuer.Name, "error", err)
			return false, nil
		}
		last = notReady(got.Status)
		return last == "", nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return unsupportedInCluster("cert-manager controller", fmt.Sprintf("the self-signed ClusterIssuer %s was not Ready within %s (%s): "+
			"no cert-manager controller reconciles issuers in this cluster", issuer.Name, timeout, last))
	}
	return nil
}
