package local_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/sim/stack/local"
	"github.com/certwave/certwave/topology"
)

// issuanceTimeout bounds each wait for the controller. A selfSigned
// issuance took a few seconds on a 2-core machine; the margin covers a
// machine busy with other builds.
const issuanceTimeout = 2 * time.Minute

// startStack starts the local stack for a test, or skips the test when a
// binary is not built.
func startStack(t *testing.T) (*local.Stack, client.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts etcd, kube-apiserver and cert-manager; skipped with -short")
	}
	// CERTWAVE_LOCAL_REQUIRED=1 turns a missing binary into a failure, for
	// runs that must not pass without the real components.
	var missing *local.MissingBinariesError
	if err := local.DefaultBinaries(local.DefaultCacheDir()).Check(); errors.As(err, &missing) {
		if os.Getenv("CERTWAVE_LOCAL_REQUIRED") == "1" {
			t.Fatalf("local stack not available: %v", err)
		}
		t.Skipf("local stack not available: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, nil))
	// CERTWAVE_LOCAL_KEEP=1 leaves the servers running after the test, for
	// inspection; the log names their PIDs and directory.
	keep := os.Getenv("CERTWAVE_LOCAL_KEEP") == "1"
	stack, err := local.Start(ctx, local.Options{Log: logger, Keep: keep})
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, process := range stack.Processes() {
				t.Logf("log of %s: %s", process.Name, process.LogPath)
			}
		}
		if err := stack.Stop(); err != nil {
			t.Errorf("stop the local stack: %v", err)
		}
	})

	c, err := client.New(stack.RESTConfig(), client.Options{Scheme: topology.Scheme()})
	if err != nil {
		t.Fatalf("create a client for %s: %v", stack.RESTConfig().Host, err)
	}
	return stack, c
}

func TestStackIssuesSelfSignedCertificate(t *testing.T) {
	_, c := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*issuanceTimeout)
	defer cancel()

	issuer := &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: "selfsigned"},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}},
	}
	mustCreate(ctx, t, c, issuer)
	certificate := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "demo"},
		Spec: cmapi.CertificateSpec{
			SecretName: "demo-tls",
			DNSNames:   []string{"demo.example.com"},
			IssuerRef:  cmmeta.IssuerReference{Kind: cmapi.ClusterIssuerKind, Name: issuer.Name},
		},
	}
	mustCreate(ctx, t, c, certificate)

	waitFor(ctx, t, "Certificate default/demo Ready=True", func(ctx context.Context) (bool, error) {
		var got cmapi.Certificate
		if err := c.Get(ctx, client.ObjectKeyFromObject(certificate), &got); err != nil {
			return false, err
		}
		return certificateReady(&got), nil
	})

	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "demo-tls"}, &secret); err != nil {
		t.Fatalf("get Secret default/demo-tls written by cert-manager: %v", err)
	}
	if !strings.Contains(string(secret.Data[corev1.TLSCertKey]), "BEGIN CERTIFICATE") {
		t.Errorf("Secret default/demo-tls %s = %q, expected a PEM certificate", corev1.TLSCertKey, secret.Data[corev1.TLSCertKey])
	}
	if len(secret.Data[corev1.TLSPrivateKeyKey]) == 0 {
		t.Errorf("Secret default/demo-tls has no %s", corev1.TLSPrivateKeyKey)
	}
	if got := secret.Annotations[cmapi.CertificateNameKey]; got != "demo" {
		t.Errorf("Secret default/demo-tls annotation %s = %q, expected demo", cmapi.CertificateNameKey, got)
	}

	// The gateway-shim creates one Certificate per listener Secret, named
	// after the Secret.
	gateway := annotatedGateway(issuer.Name, "https-app", "app.example.com", "app-tls")
	mustCreate(ctx, t, c, gateway)

	var shimCertificate cmapi.Certificate
	waitFor(ctx, t, "Certificate default/app-tls from the gateway-shim", func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "app-tls"}, &shimCertificate)
		return err == nil, nil
	})
	if got := shimCertificate.Spec.DNSNames; len(got) != 1 || got[0] != "app.example.com" {
		t.Errorf("shim Certificate dnsNames = %v, expected [app.example.com]", got)
	}
	if got := shimCertificate.Spec.SecretName; got != "app-tls" {
		t.Errorf("shim Certificate secretName = %q, expected app-tls", got)
	}
	if got := shimCertificate.Spec.IssuerRef; got.Kind != cmapi.ClusterIssuerKind || got.Name != issuer.Name {
		t.Errorf("shim Certificate issuerRef = %+v, expected ClusterIssuer %s", got, issuer.Name)
	}
	owner := metav1.GetControllerOf(&shimCertificate)
	if owner == nil || owner.Kind != "Gateway" || owner.Name != gateway.Name {
		t.Errorf("shim Certificate controller owner = %+v, expected Gateway %s", owner, gateway.Name)
	}
	waitFor(ctx, t, "Certificate default/app-tls Ready=True", func(ctx context.Context) (bool, error) {
		var got cmapi.Certificate
		if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "app-tls"}, &got); err != nil {
			return false, err
		}
		return certificateReady(&got), nil
	})
}

func certificateReady(certificate *cmapi.Certificate) bool {
	for _, condition := range certificate.Status.Conditions {
		if condition.Type == cmapi.CertificateConditionReady {
			return condition.Status == cmmeta.ConditionTrue
		}
	}
	return false
}

func mustCreate(ctx context.Context, t *testing.T, c client.Client, object client.Object) {
	t.Helper()
	if err := c.Create(ctx, object); err != nil {
		t.Fatalf("create %T %s: %v", object, client.ObjectKeyFromObject(object), err)
	}
}

// waitFor polls condition every 250 ms until it returns true or
// issuanceTimeout ends. A condition error is retried and reported at the
// end.
func waitFor(ctx context.Context, t *testing.T, what string, condition func(context.Context) (bool, error)) {
	t.Helper()
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, issuanceTimeout, true, func(ctx context.Context) (bool, error) {
		done, err := condition(ctx)
		lastErr = err
		return done, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", issuanceTimeout, what, lastErr)
	}
}

// testLogWriter sends the stack's log lines to the test log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// annotatedGateway returns Gateway default/public of class certwave with
// the cluster-issuer annotation and one HTTPS listener terminating TLS
// for host with the certificate in Secret secret.
func annotatedGateway(issuer, listener, host, secret string) *gwapi.Gateway {
	return &gwapi.Gateway{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   "default",
			Name:        "public",
			Annotations: map[string]string{"cert-manager.io/cluster-issuer": issuer},
		},
		Spec: gwapi.GatewaySpec{
			GatewayClassName: "certwave",
			Listeners: []gwapi.Listener{{
				Name:     gwapi.SectionName(listener),
				Hostname: new(gwapi.Hostname(host)),
				Port:     443,
				Protocol: gwapi.HTTPSProtocolType,
				TLS: &gwapi.ListenerTLSConfig{
					Mode:            new(gwapi.TLSModeTerminate),
					CertificateRefs: []gwapi.SecretObjectReference{{Name: gwapi.ObjectName(secret)}},
				},
			}},
		},
	}
}
