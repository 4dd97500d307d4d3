package model

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Envoy Gateway translates again when a Gateway, a route or a Secret that
// a listener references changes. Other Secrets reach the translator only
// through resources the model does not have, such as SecurityPolicies
// (validateSecretForReconcile, internal/provider/kubernetes, v1.8.0 and
// v1.9.1). Certificate validity is judged at translation, so an expired
// certificate shows in the status only at the next translation, which
// covers every Gateway.
func TestRetranslationAfterExpiry(t *testing.T) {
	w := edgeWorld(t, "")
	other := edgeGateway(httpsSpec("https-b", "b.example.com", "b-tls"))
	other.Name = "other"
	createObjects(t, w,
		tlsSecret(t, w, "infra/a-tls", []string{"a.example.com"}, testStart.Add(-time.Hour), testStart.Add(time.Hour)),
		validSecret(t, w, "infra/b-tls", "b.example.com"),
		edgeGateway(httpsSpec("https-a", "a.example.com", "a-tls")),
		other,
	)
	wantListenerCondition(t, w, "https-a", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionTrue, "ResolvedRefs")

	w.Advance(2 * time.Hour)
	createObjects(t, w, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "unrelated"},
		Data: map[string][]byte{"token": []byte("x")}})
	wantListenerCondition(t, w, "https-a", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionTrue, "ResolvedRefs")

	// A write of the Secret of the other Gateway triggers a translation,
	// which judges the expired certificate of infra/edge although nothing
	// infra/edge reads was written.
	var b corev1.Secret
	getObject(t, w, "infra", "b-tls", &b)
	b.Labels = map[string]string{"touched": "true"}
	if err := w.Client().Update(context.Background(), &b, client.FieldOwner("kubectl")); err != nil {
		t.Fatal(err)
	}
	wantListenerCondition(t, w, "https-a", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, "InvalidCertificateRef")
	wantListenerCondition(t, w, "https-a", gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, "Invalid")
}
