package model

import (
	"context"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)

// syncSecretTemplate keeps spec.secretTemplate's annotations and labels on
// a Secret this Certificate issued, removing those it set before and no
// longer lists, without re-issuing (cert-manager's post-issuance policies).
func (w *World) syncSecretTemplate(c *cmapi.Certificate, secret *corev1.Secret, st *certState) bool {
	if secret == nil || secret.Annotations[cmapi.CertificateNameKey] != c.Name {
		return false
	}
	updated := secret.DeepCopy()
	var keys []string
	if t := c.Spec.SecretTemplate; t != nil {
		for k, v := range t.Annotations {
			if updated.Annotations == nil {
				updated.Annotations = map[string]string{}
			}
			updated.Annotations[k] = v
			keys = append(keys, "a:"+k)
		}
		for k, v := range t.Labels {
			if updated.Labels == nil {
				updated.Labels = map[string]string{}
			}
			updated.Labels[k] = v
			keys = append(keys, "l:"+k)
		}
	}
	sort.Strings(keys)
	for _, old := range st.templateKeys {
		if _, found := sort.Find(len(keys), func(i int) int { return strings.Compare(old, keys[i]) }); found {
			continue
		}
		if k, ok := strings.CutPrefix(old, "a:"); ok {
			delete(updated.Annotations, k)
		} else {
			delete(updated.Labels, strings.TrimPrefix(old, "l:"))
		}
	}
	st.templateKeys = keys
	if apiequality.Semantic.DeepEqual(secret.ObjectMeta, updated.ObjectMeta) {
		return false
	}
	if err := w.api.Update(context.Background(), updated, client.FieldOwner("cert-manager-certificates-issuing")); err != nil {
		w.recordError("update Secret/"+secret.Namespace+"/"+secret.Name, err)
		return false
	}
	w.record(traceSecret, "Secret/"+secret.Namespace+"/"+secret.Name, "secretTemplate metadata synced from Certificate %s", c.Name)
	return true
}
