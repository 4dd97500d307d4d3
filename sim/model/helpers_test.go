package model

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// testStart is the virtual start of most tests: before Let's Encrypt's
// first lifetime reduction.
var testStart = time.Date(2026, time.June, 1, 0, 0, 0, 0, time.UTC)

// newReferenceWorld builds the reference topology with the given options,
// seed 1 and testStart unless set.
func newReferenceWorld(t testing.TB, opts Options) *World {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Start.IsZero() {
		opts.Start = testStart
	}
	w, err := New(topology.Reference(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

// applyListeners applies, as certwave, the listeners it owns on a Gateway:
// server-side apply with field manager certwave, listing only its own.
func applyListeners(t testing.TB, w *World, namespace, gateway string, listeners ...*gwapply.ListenerApplyConfiguration) {
	t.Helper()
	gw := gwapply.Gateway(gateway, namespace).WithSpec(gwapply.GatewaySpec().WithListeners(listeners...))
	if err := w.Client().Apply(context.Background(), gw, client.FieldOwner("certwave"), client.ForceOwnership); err != nil {
		t.Fatalf("apply listeners of %s/%s: %v", namespace, gateway, err)
	}
}

// httpsListener is a per-host HTTPS listener on port 443 with a Secret in
// the Gateway's namespace.
func httpsListener(name, hostname, secret string) *gwapply.ListenerApplyConfiguration {
	l := gwapply.Listener().WithName(gwapiv1.SectionName(name)).WithPort(443).
		WithProtocol(gwapiv1.HTTPSProtocolType).
		WithTLS(gwapply.ListenerTLSConfig().WithMode(gwapiv1.TLSModeTerminate).
			WithCertificateRefs(gwapply.SecretObjectReference().WithName(gwapiv1.ObjectName(secret)))).
		WithAllowedRoutes(gwapply.AllowedRoutes().WithNamespaces(gwapply.RouteNamespaces().WithFrom(gwapiv1.NamespacesFromAll)))
	if hostname != "" {
		l.WithHostname(gwapiv1.Hostname(hostname))
	}
	return l
}

// annotateGateway merges annotations into a Gateway with a merge patch.
func annotateGateway(t testing.TB, w *World, namespace, name string, annotations map[string]string) {
	t.Helper()
	var gw gwapiv1.Gateway
	getObject(t, w, namespace, name, &gw)
	patch := client.MergeFrom(gw.DeepCopy())
	if gw.Annotations == nil {
		gw.Annotations = map[string]string{}
	}
	for k, v := range annotations {
		gw.Annotations[k] = v
	}
	if err := w.Client().Patch(context.Background(), &gw, patch); err != nil {
		t.Fatalf("annotate Gateway %s/%s: %v", namespace, name, err)
	}
}

// flipRoute points an HTTPRoute's first parentRef at another listener.
func flipRoute(t testing.TB, w *World, namespace, name, section string) {
	t.Helper()
	var r gwapiv1.HTTPRoute
	getObject(t, w, namespace, name, &r)
	s := gwapiv1.SectionName(section)
	r.Spec.ParentRefs[0].SectionName = &s
	if err := w.Client().Update(context.Background(), &r); err != nil {
		t.Fatalf("flip HTTPRoute %s/%s: %v", namespace, name, err)
	}
}

func getObject(t testing.TB, w *World, namespace, name string, obj client.Object) {
	t.Helper()
	if err := w.Client().Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s/%s: %v", obj, namespace, name, err)
	}
}

// certificate returns a Certificate, or nil when it does not exist.
func certificate(w *World, namespace, name string) *cmapi.Certificate {
	var c cmapi.Certificate
	if err := w.Client().Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &c); err != nil {
		return nil
	}
	return &c
}

func readyCondition(c *cmapi.Certificate) (string, string) {
	if cond := certificateCondition(c, cmapi.CertificateConditionReady); cond != nil {
		return string(cond.Status), cond.Reason
	}
	return "", ""
}

// probe probes a host through a path and fails the test on error.
func probe(t testing.TB, w *World, host, path string) engine.ProbeResult {
	t.Helper()
	res, err := w.Prober().Probe(context.Background(), host, path)
	if err != nil {
		t.Fatalf("probe %s via %s: %v", host, path, err)
	}
	return res
}

// acmeEvents returns the ACME events of a type since the start.
func acmeEvents(t testing.TB, w *World, typ string) []engine.ACMEEvent {
	t.Helper()
	all, err := w.ACME().ACMEEvents(context.Background(), time.Time{})
	if err != nil {
		t.Fatalf("ACMEEvents: %v", err)
	}
	var out []engine.ACMEEvent
	for _, e := range all {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// events returns the Kubernetes Events about an object with a reason.
func events(t testing.TB, w *World, kind, namespace, name, reason string) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	if err := w.Client().List(context.Background(), &list); err != nil {
		t.Fatalf("list Events: %v", err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		o := e.InvolvedObject
		if o.Kind == kind && o.Namespace == namespace && o.Name == name && (reason == "" || e.Reason == reason) {
			out = append(out, e)
		}
	}
	return out
}

// traceLines returns the trace lines containing every fragment.
func traceLines(w *World, fragments ...string) []string {
	var buf bytes.Buffer
	_ = w.WriteTrace(&buf)
	var out []string
	for _, line := range strings.Split(buf.String(), "\n") {
		ok := line != ""
		for _, f := range fragments {
			ok = ok && strings.Contains(line, f)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// listenerCondition returns a Gateway listener's condition.
func listenerCondition(t testing.TB, w *World, namespace, gateway, listener, typ string) *metav1.Condition {
	t.Helper()
	var gw gwapiv1.Gateway
	getObject(t, w, namespace, gateway, &gw)
	for _, l := range gw.Status.Listeners {
		if string(l.Name) != listener {
			continue
		}
		for i := range l.Conditions {
			if l.Conditions[i].Type == typ {
				return &l.Conditions[i]
			}
		}
	}
	return nil
}

// getSecretLocked reads a Secret through the engine's client.
func (w *World) getSecretLocked(namespace, name string) *corev1.Secret {
	var s corev1.Secret
	if err := w.Client().Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		return nil
	}
	return &s
}
