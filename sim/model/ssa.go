package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// Server-side apply merges with apimachinery's field manager and the
// projects' generated schemas, as a kube-apiserver does with the CRDs'.
// controller-runtime's fake client, which the model used before its own
// store, decoded an apply configuration into the typed struct before
// merging: every field without omitempty (Gateway spec.gatewayClassName,
// Certificate spec.secretName) then became part of the applied intent with
// its zero value, and a forced apply of listeners wiped the Gateway's
// class.

// chainConverter returns the first successful conversion of its
// converters: client-go's schema for core kinds, gateway-api's and
// cert-manager's for their CRDs, and the deduced schema as a last resort.
type chainConverter []managedfields.TypeConverter

func (c chainConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	var errs []error
	for _, tc := range c {
		v, err := tc.ObjectToTyped(obj, opts...)
		if err == nil {
			return v, nil
		}
		errs = append(errs, err)
	}
	return nil, kerrors.NewAggregate(errs)
}

func (c chainConverter) TypedToObject(v *typed.TypedValue) (runtime.Object, error) {
	var errs []error
	for _, tc := range c {
		obj, err := tc.TypedToObject(v)
		if err == nil {
			return obj, nil
		}
		errs = append(errs, err)
	}
	return nil, kerrors.NewAggregate(errs)
}

type noDefaults struct{}

func (noDefaults) Default(runtime.Object) {}

// applyPatch is a PATCH of type apply-patch+yaml on the main resource.
func (w *World) applyPatch(ctx context.Context, obj client.Object, patch client.Patch, po *client.PatchOptions) error {
	data, err := patch.Data(obj)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(data, &u.Object); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decoding apply patch: %v", err))
	}
	if u.GroupVersionKind().Empty() {
		u.SetGroupVersionKind(w.refOf(obj).GVK)
	}
	if len(po.DryRun) > 0 {
		return nil
	}
	if err := w.serverSideApply(ctx, u, po.FieldManager, po.Force != nil && *po.Force); err != nil {
		return err
	}
	w.copyInto(ctx, u, obj)
	return nil
}

// applyConfiguration is client.Apply of an apply configuration. It
// returns the identity of the object applied.
func (w *World) applyConfiguration(ctx context.Context, obj runtime.ApplyConfiguration, ao *client.ApplyOptions) (objectRef, error) {
	u, err := toUnstructured(obj)
	if err != nil {
		return objectRef{}, err
	}
	ref := objectRef{GVK: u.GroupVersionKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
	if len(ao.DryRun) > 0 {
		return ref, nil
	}
	if err := w.serverSideApply(ctx, u, ao.FieldManager, ao.Force != nil && *ao.Force); err != nil {
		return ref, err
	}
	w.copyInto(ctx, u, obj)
	return ref, nil
}

// serverSideApply applies an unstructured configuration as manager: it
// merges with the live object by the schema's list and map semantics,
// removes fields the manager applied before and no longer lists, and
// reports conflicts with other managers unless force is set. The status
// of the configuration is ignored, as on the main resource of a real API
// server, and the merge leaves the stored status out, which it cannot
// change.
func (w *World) serverSideApply(ctx context.Context, u *unstructured.Unstructured, manager string, force bool) error {
	gvk := u.GroupVersionKind()
	if gvk.Kind == "" || u.GetName() == "" {
		return apierrors.NewBadRequest("apply configuration needs apiVersion, kind and metadata.name")
	}
	if manager == "" {
		return apierrors.NewBadRequest("PATCH with apply requires a fieldManager: set client.FieldOwner")
	}
	if untrackedKinds[gvk.Kind] {
		return apierrors.NewBadRequest(fmt.Sprintf("server-side apply of a %s is not supported by the model world, because it does not record who owns that kind's fields: write it with create or update", gvk.Kind))
	}
	unstructured.RemoveNestedField(u.Object, "status")
	s := w.api
	live := s.stored(gvk, u.GetNamespace(), u.GetName())
	base := live
	if base == nil {
		empty, err := w.scheme.New(gvk)
		if err != nil {
			return fmt.Errorf("model: apply of unknown kind %s: %w", gvk, err)
		}
		var ok bool
		if base, ok = empty.(client.Object); !ok {
			return fmt.Errorf("model: apply of %s: not an object kind", gvk)
		}
	}
	bare, status := withoutStatus(base)
	// The merge walks the live object several times. It does so much
	// faster on unstructured maps, the form kube-apiserver keeps custom
	// resources in, than through reflection on the typed struct.
	liveU, err := asUnstructured(bare, gvk)
	if err != nil {
		return err
	}
	fm, err := s.fieldManager(gvk)
	if err != nil {
		return err
	}
	merged, err := fm.Apply(liveU, u, manager, force)
	if err != nil {
		return err
	}
	result, err := w.toTyped(merged)
	if err != nil {
		return err
	}
	setStatus(result, status)
	result.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	if live != nil {
		result.SetResourceVersion(nextVersion(live.GetResourceVersion()))
	} else {
		result.SetResourceVersion("1")
		result.SetUID("")
		w.stampNew(result)
	}
	s.put(gvk, result, "")
	return nil
}

// toTyped converts a field manager result to the scheme's typed object.
func (w *World) toTyped(obj runtime.Object) (client.Object, error) {
	if o, ok := obj.(client.Object); ok {
		if _, isUnstructured := obj.(*unstructured.Unstructured); !isUnstructured {
			return o, nil
		}
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, errors.New("model: apply produced an object without metadata")
	}
	out, err := w.scheme.New(u.GroupVersionKind())
	if err != nil {
		return nil, err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, fmt.Errorf("model: converting applied %s: %w", u.GroupVersionKind(), err)
	}
	o, ok := out.(client.Object)
	if !ok {
		return nil, errors.New("model: apply produced an object without metadata")
	}
	return o, nil
}

// toUnstructured renders any object or apply configuration through JSON.
func toUnstructured(v any) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("model: encoding apply configuration: %w", err)
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(data, &u.Object); err != nil {
		return nil, fmt.Errorf("model: decoding apply configuration: %w", err)
	}
	return u, nil
}

// copyInto writes the stored object back into the caller's value, as the
// API server's response does, with its apiVersion and kind.
func (w *World) copyInto(ctx context.Context, u *unstructured.Unstructured, target any) {
	gvk := u.GroupVersionKind()
	stored := w.api.stored(gvk, u.GetNamespace(), u.GetName())
	if stored == nil {
		return
	}
	data, err := json.Marshal(stored)
	if err != nil {
		return
	}
	_ = json.Unmarshal(data, target)
	if obj, ok := target.(runtime.Object); ok {
		obj.GetObjectKind().SetGroupVersionKind(gvk)
	}
}
