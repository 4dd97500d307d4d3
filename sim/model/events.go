package model

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// emitEvent creates a Kubernetes Event about obj, once per object version,
// reason and message, as an event recorder's deduplication would show it.
// Events of cluster-scoped objects go to the default namespace.
func (w *World) emitEvent(obj client.Object, eventType, reason, message string) {
	key := fmt.Sprintf("%s/%s/%s/%s", obj.GetUID(), obj.GetResourceVersion(), reason, message)
	if w.events[key] {
		return
	}
	w.events[key] = true
	ref := w.refOf(obj)
	ns := obj.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	w.eventSeq++
	now := metav1.NewTime(w.sched.now)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s.%06d", obj.GetName(), w.eventSeq)},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: ref.GVK.GroupVersion().String(), Kind: ref.GVK.Kind,
			Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(),
			ResourceVersion: obj.GetResourceVersion(),
		},
		Reason: reason, Message: message, Type: eventType,
		Source:         corev1.EventSource{Component: "cert-manager"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	w.stampNew(ev)
	if err := w.api.Create(context.Background(), ev, client.FieldOwner("cert-manager")); err != nil {
		w.recordError("create Event for "+ref.String(), err)
		return
	}
	w.record(traceEvent, ref.String(), "%s %s: %s", eventType, reason, message)
}
