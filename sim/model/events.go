package model

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// emitEvent records a Kubernetes Event about obj. A repeat of the same
// reason and message about the same object increments the Event's count,
// as client-go's event recorder aggregates them, and is not traced again.
// Events of cluster-scoped objects go to the default namespace.
func (w *World) emitEvent(obj client.Object, eventType, reason, message string) {
	ctx := context.Background()
	ns := obj.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	now := metav1.NewTime(w.sched.now)

	key := fmt.Sprintf("%s/%s/%s", obj.GetUID(), reason, message)
	if name, ok := w.events[key]; ok {
		var ev corev1.Event
		if err := w.api.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ev); err == nil {
			ev.Count++
			ev.LastTimestamp = now
			if err := w.api.Update(ctx, &ev, client.FieldOwner("cert-manager")); err != nil {
				w.recordError("update Event "+ns+"/"+name, err)
			}
			return
		}
	}

	ref := w.refOf(obj)
	w.eventSeq++
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
	if err := w.api.Create(ctx, ev, client.FieldOwner("cert-manager")); err != nil {
		w.recordError("create Event for "+ref.String(), err)
		return
	}
	w.events[key] = ev.Name
	w.record(traceEvent, ref.String(), "%s %s: %s", eventType, reason, message)
}
