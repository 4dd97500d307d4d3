package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// Server-side apply is done here rather than by the fake client, whose
// tracker decodes an apply configuration into the typed struct before
// merging: every field without omitempty (Gateway spec.gatewayClassName,
// Certificate spec.secretName) then becomes part of the applied intent
// with its zero value, and a forced apply of listeners wiped the Gateway's
// class. The merge below uses apimachinery's field manager with the
// projects' generated schemas, as a kube-apiserver does with the CRDs'.

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

// serverSideApply applies an unstructured configuration as manager: it
// merges with the live object by the schema's list and map semantics,
// removes fields the manager applied before and no longer lists, and
// reports conflicts with other managers unless force is set. The status
// of the configuration is ignored, as on the main resource of a real API
// server.
func (w *World) serverSideApply(ctx context.Context, u *unstructured.Unstructured, manager string, force bool) error {
	gvk := u.GroupVersionKind()
	if gvk.Kind == "" || u.GetName() == "" {
		return apierrors.NewBadRequest("apply configuration needs apiVersion, kind and metadata.name")
	}
	if manager == "" {
		return apierrors.NewBadRequest("PATCH with apply requires a fieldManager: set client.FieldOwner")
	}
	unstructured.RemoveNestedField(u.Object, "status")
	newObj, err := w.scheme.New(gvk)
	if err != nil {
		return fmt.Errorf("model: apply of unknown kind %s: %w", gvk, err)
	}
	live, ok := newObj.(client.Object)
	if !ok {
		return fmt.Errorf("model: apply of %s: not an object kind", gvk)
	}
	key := client.ObjectKey{Namespace: u.GetNamespace(), Name: u.GetName()}
	exists := true
	if err := w.api.Get(ctx, key, live); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		exists = false
	}
	live.GetObjectKind().SetGroupVersionKind(gvk)
	fm, err := managedfields.NewDefaultFieldManager(w.typeConverter, w.scheme, noDefaults{}, w.scheme, gvk, gvk.GroupVersion(), "", nil)
	if err != nil {
		return fmt.Errorf("model: field manager for %s: %w", gvk, err)
	}
	merged, err := fm.Apply(live, u, manager, force)
	if err != nil {
		return err
	}
	result, err := w.toTyped(merged)
	if err != nil {
		return err
	}
	managed := result.GetManagedFields()
	result.SetManagedFields(nil)
	owner := client.FieldOwner(manager)
	if exists {
		result.SetResourceVersion(live.GetResourceVersion())
		err = w.api.Update(ctx, result, owner)
	} else {
		result.SetResourceVersion("")
		result.SetUID("")
		w.stampNew(result)
		err = w.api.Create(ctx, result, owner)
	}
	if err != nil {
		return err
	}
	// The write above recorded the manager as an updater of the fields it
	// changed; restore the ownership the apply computed.
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"managedFields": managed}})
	if err != nil {
		return err
	}
	return w.api.Patch(ctx, result, client.RawPatch(types.MergePatchType, patch))
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
// API server's response does.
func (w *World) copyInto(ctx context.Context, u *unstructured.Unstructured, target any) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(u.GroupVersionKind())
	if err := w.api.Get(ctx, client.ObjectKey{Namespace: u.GetNamespace(), Name: u.GetName()}, live); err != nil {
		return
	}
	data, err := json.Marshal(live.Object)
	if err != nil {
		return
	}
	_ = json.Unmarshal(data, target)
}
