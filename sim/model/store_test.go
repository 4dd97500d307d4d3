package model

import (
	"context"
	"errors"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The store checks resource versions as kube-apiserver does: an update
// carrying a stale resourceVersion is a 409 Conflict, and each write
// moves the version on.
func TestStoreUpdateWithStaleVersionConflicts(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	c := w.Client()
	ctx := context.Background()
	var first, second corev1.Secret
	getObject(t, w, "network", "example-com-tls", &first)
	getObject(t, w, "network", "example-com-tls", &second)

	first.Labels = map[string]string{"team": "platform"}
	if err := c.Update(ctx, &first, client.FieldOwner("test")); err != nil {
		t.Fatalf("first update: %v", err)
	}
	if first.ResourceVersion == second.ResourceVersion {
		t.Fatalf("resourceVersion stayed %s after an update", first.ResourceVersion)
	}
	second.Labels = map[string]string{"team": "other"}
	err := c.Update(ctx, &second, client.FieldOwner("test"))
	if !apierrors.IsConflict(err) {
		t.Fatalf("update with stale resourceVersion %s: got %v, want a Conflict", second.ResourceVersion, err)
	}
}

// Gateway has a status subresource (gateway-api v1.6.0 CRD,
// subresources.status): an update of the main resource keeps the stored
// status, and a status update keeps the stored spec.
func TestStoreSeparatesStatusFromMainResource(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	c := w.Client()
	ctx := context.Background()
	var gw gwapiv1.Gateway
	getObject(t, w, "network", "external", &gw)
	wantListeners := len(gw.Status.Listeners)
	if wantListeners == 0 {
		t.Fatal("the reference Gateway network/external has no listener status to keep")
	}

	gw.Status.Listeners = nil
	gw.Labels = map[string]string{"edited": "main"}
	if err := c.Update(ctx, &gw, client.FieldOwner("test")); err != nil {
		t.Fatalf("update: %v", err)
	}
	getObject(t, w, "network", "external", &gw)
	if gw.Labels["edited"] != "main" || len(gw.Status.Listeners) != wantListeners {
		t.Fatalf("after a main-resource update: labels %v, %d listener statuses; want the label and %d statuses",
			gw.Labels, len(gw.Status.Listeners), wantListeners)
	}

	gw.Labels = map[string]string{"edited": "status"}
	gw.Status.Conditions = append(gw.Status.Conditions, metav1.Condition{Type: "Tested", Status: metav1.ConditionTrue,
		Reason: "Test", LastTransitionTime: metav1.NewTime(w.sched.now)})
	if err := c.Status().Update(ctx, &gw, client.FieldOwner("test")); err != nil {
		t.Fatalf("status update: %v", err)
	}
	getObject(t, w, "network", "external", &gw)
	if gw.Labels["edited"] != "main" {
		t.Errorf("a status update changed the labels to %v", gw.Labels)
	}
	found := false
	for _, cond := range gw.Status.Conditions {
		found = found || cond.Type == "Tested"
	}
	if !found {
		t.Errorf("the status update's condition is missing: %v", gw.Status.Conditions)
	}
}

// A JSON patch whose "test" operation fails is refused with 422, as
// kube-apiserver's patch handler does, and changes nothing.
func TestStoreJSONPatchFailedTestIsUnprocessable(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	var gw gwapiv1.Gateway
	getObject(t, w, "network", "external", &gw)
	before := gw.ResourceVersion
	patch := []byte(`[{"op":"test","path":"/spec/listeners/0/name","value":"no-such-listener"},{"op":"remove","path":"/spec/listeners/0"}]`)
	err := w.Client().Patch(context.Background(), &gw, client.RawPatch(types.JSONPatchType, patch))
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != http.StatusUnprocessableEntity {
		t.Fatalf("patch with a failing test: got %v, want 422", err)
	}
	getObject(t, w, "network", "external", &gw)
	if gw.ResourceVersion != before {
		t.Errorf("a refused patch moved resourceVersion from %s to %s", before, gw.ResourceVersion)
	}
}

// Lists are sorted by namespace and name and honour label selectors.
func TestStoreListSortsAndSelects(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	ctx := context.Background()
	var all gwapiv1.HTTPRouteList
	if err := w.Client().List(ctx, &all); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(all.Items); i++ {
		prev, cur := all.Items[i-1], all.Items[i]
		if storeKey(prev.Namespace, prev.Name) >= storeKey(cur.Namespace, cur.Name) {
			t.Fatalf("routes out of order: %s/%s before %s/%s", prev.Namespace, prev.Name, cur.Namespace, cur.Name)
		}
	}
	route := all.Items[0].DeepCopy()
	route.Labels = map[string]string{"certwave-test": "picked"}
	if err := w.Client().Update(ctx, route, client.FieldOwner("test")); err != nil {
		t.Fatal(err)
	}
	var picked gwapiv1.HTTPRouteList
	if err := w.Client().List(ctx, &picked, client.MatchingLabels{"certwave-test": "picked"}); err != nil {
		t.Fatal(err)
	}
	if len(picked.Items) != 1 || picked.Items[0].Name != route.Name {
		t.Fatalf("label selector picked %d routes, want only %s", len(picked.Items), route.Name)
	}
}

// The store does not record who owns a Secret's fields (untrackedKinds),
// so a server-side apply of one, which would need those owners to find
// conflicts, is rejected by name instead of merged without them.
func TestStoreRejectsApplyOfSecret(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "example-com-tls", Labels: map[string]string{"team": "platform"}},
	}
	err := w.Client().Patch(context.Background(), secret, client.Apply, client.FieldOwner("test"))
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("apply of a Secret: got %v, want a BadRequest naming the kind", err)
	}
	var live corev1.Secret
	getObject(t, w, "network", "example-com-tls", &live)
	if live.Labels["team"] != "" {
		t.Errorf("rejected apply still changed the Secret: labels %v", live.Labels)
	}
}
