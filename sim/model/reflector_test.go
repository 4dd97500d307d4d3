package model

import (
	"bytes"
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"github.com/certwave/certwave/topology"
)

// emberstack reflector (README, "Automatic mirror creation"): a source with
// reflection-allowed and reflection-auto-enabled gets a mirror in every
// allowed namespace, carrying the source's type and data only.
func TestReflectorCreatesAutoMirrors(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	src := w.getSecretLocked("network", topology.WildcardSecret)
	for _, ns := range []string{"istio-system", "mcp-system"} {
		m := w.getSecretLocked(ns, topology.WildcardSecret)
		if m == nil {
			t.Errorf("no mirror in %s", ns)
			continue
		}
		if !bytes.Equal(m.Data[corev1.TLSCertKey], src.Data[corev1.TLSCertKey]) {
			t.Errorf("mirror in %s does not carry the source's certificate", ns)
		}
		if m.Type != src.Type {
			t.Errorf("mirror type = %s, want %s", m.Type, src.Type)
		}
		if _, ok := m.Annotations[cmapi.IssuerNameAnnotationKey]; ok {
			t.Errorf("mirror in %s carries cert-manager annotations", ns)
		}
	}
	if m := w.getSecretLocked("apps", topology.WildcardSecret); m != nil {
		t.Error("mirror in apps, which the allowed list leaves out")
	}
}

// Reflector deletes auto mirrors when the source stops allowing their
// namespace and when the source is deleted.
func TestReflectorDeletesAutoMirrors(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	ctx := context.Background()
	c := certificate(w, "network", "example.com")
	c.Spec.SecretTemplate.Annotations[topology.AnnotationReflectionAllowedNamespaces] = "network,istio-system"
	if err := w.Client().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	if w.getSecretLocked("mcp-system", topology.WildcardSecret) != nil {
		t.Error("mirror in mcp-system survived its namespace leaving the allowed list")
	}
	if w.getSecretLocked("istio-system", topology.WildcardSecret) == nil {
		t.Error("mirror in istio-system deleted although still allowed")
	}

	src := w.getSecretLocked("network", topology.WildcardSecret)
	if err := w.Client().Delete(ctx, src); err != nil {
		t.Fatal(err)
	}
	if w.getSecretLocked("istio-system", topology.WildcardSecret) != nil {
		t.Error("mirror in istio-system survived the deletion of its source")
	}
	if n := len(traceLines(w, "reflector", "auto mirror deleted")); n != 2 {
		t.Errorf("auto mirror deletions = %d, want 2 (mcp-system, then istio-system with the source)", n)
	}

	// cert-manager re-issues the missing source (its authorizations are
	// still valid, so within seconds) and reflector mirrors it again.
	w.Advance(time.Minute)
	if w.getSecretLocked("network", topology.WildcardSecret) == nil {
		t.Fatal("source not re-issued")
	}
	if w.getSecretLocked("istio-system", topology.WildcardSecret) == nil {
		t.Error("mirror in istio-system not recreated after the source came back")
	}
}
