package model

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// objectStore is the model's API server: typed objects in memory, with the
// semantics the engine and the model's controllers rely on.
//   - Each object has its own resource version. Every write moves it on,
//     and an update with another version is a conflict.
//   - For kinds with a status subresource, a write to the main resource
//     keeps the stored status, and a status write keeps everything else.
//   - Creates, updates and patches record field ownership with
//     apimachinery's field manager. Server-side apply
//     (World.serverSideApply) then merges and removes fields as
//     kube-apiserver does.
//   - Reads return deep copies without TypeMeta, as controller-runtime's
//     typed clients do.
//
// It also counts writes per kind for World.unchanged.
//
// It replaces controller-runtime's fake client, which converted every
// write to JSON and back several times: that was nearly all of a model
// run's time. The world's mutex guards it.
type objectStore struct {
	w       *World
	mapper  meta.RESTMapper
	objects map[schema.GroupVersionKind]map[string]client.Object
	// keys caches the sorted keys of each kind; see sortedKeys.
	keys map[schema.GroupVersionKind][]string
	// shared caches, per kind, the Items slice listShared last built,
	// until the next write of that kind.
	shared map[schema.GroupVersionKind]reflect.Value
	// managers caches one field manager per kind.
	managers map[schema.GroupVersionKind]*managedfields.FieldManager
}

var _ client.WithWatch = (*objectStore)(nil)

// statusKinds are the kinds served with a status subresource, as their
// CRDs (and core/v1 for none of the kinds the model stores) declare.
var statusKinds = map[string]bool{
	"Gateway": true, "HTTPRoute": true, "GatewayClass": true,
	"Certificate": true, "CertificateRequest": true, "Issuer": true, "ClusterIssuer": true,
	"Order": true, "Challenge": true,
}

// untrackedKinds are the kinds whose field ownership the store does not
// record: only cert-manager, reflector and the API server write them, by
// create and update, and nothing applies them, so no apply ever reads
// their ownership. cert-manager v1.21.2 applies Secrets only with its
// ServerSideApply feature gate, off by default, and reflector updates
// them. They are also most of a long run's writes. serverSideApply
// rejects these kinds rather than merge without the owners.
var untrackedKinds = map[string]bool{
	"Event": true, "CertificateRequest": true, "Order": true, "Challenge": true,
	"Secret": true,
}

func newObjectStore(w *World) *objectStore {
	return &objectStore{
		w:        w,
		mapper:   newRESTMapper(),
		objects:  map[schema.GroupVersionKind]map[string]client.Object{},
		keys:     map[schema.GroupVersionKind][]string{},
		shared:   map[schema.GroupVersionKind]reflect.Value{},
		managers: map[schema.GroupVersionKind]*managedfields.FieldManager{},
	}
}

func (s *objectStore) Scheme() *runtime.Scheme     { return s.w.scheme }
func (s *objectStore) RESTMapper() meta.RESTMapper { return s.mapper }

func (s *objectStore) GroupVersionKindFor(obj runtime.Object) (schema.GroupVersionKind, error) {
	return apiutil.GVKForObject(obj, s.w.scheme)
}

func (s *objectStore) IsObjectNamespaced(obj runtime.Object) (bool, error) {
	return apiutil.IsObjectNamespaced(obj, s.w.scheme, s.mapper)
}

// Watch is not served: the model's controllers run after each write
// instead of watching.
func (s *objectStore) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, apierrors.NewMethodNotSupported(schema.GroupResource{}, "watch in the model world")
}

// kindOf returns the GVK of an object or list, without the List suffix.
func (s *objectStore) kindOf(obj runtime.Object) (schema.GroupVersionKind, error) {
	gvk, err := apiutil.GVKForObject(obj, s.w.scheme)
	if err != nil {
		return gvk, err
	}
	if _, isList := obj.(client.ObjectList); isList {
		gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	}
	return gvk, nil
}

func storeKey(namespace, name string) string { return namespace + "/" + name }

// resourceOf names a kind's resource as API errors do: lower-case plural.
func resourceOf(gvk schema.GroupVersionKind) schema.GroupResource {
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return plural.GroupResource()
}

func notFound(gvk schema.GroupVersionKind, name string) error {
	return apierrors.NewNotFound(resourceOf(gvk), name)
}

// stored returns the stored object of a kind, or nil.
func (s *objectStore) stored(gvk schema.GroupVersionKind, namespace, name string) client.Object {
	return s.objects[gvk][storeKey(namespace, name)]
}

// peek returns the stored object of kind's kind at namespace/name, or nil.
// Like listShared, it skips the copy: the caller must not modify it.
func (s *objectStore) peek(kind client.Object, namespace, name string) client.Object {
	gvk, err := s.kindOf(kind)
	if err != nil {
		return nil
	}
	return s.stored(gvk, namespace, name)
}

// copyOut writes a deep copy of stored into obj, typed or unstructured.
func (s *objectStore) copyOut(stored client.Object, obj runtime.Object, gvk schema.GroupVersionKind) error {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(stored)
		if err != nil {
			return err
		}
		u.Object = content
		u.SetGroupVersionKind(gvk)
		return nil
	}
	dst := reflect.ValueOf(obj)
	src := reflect.ValueOf(stored.DeepCopyObject())
	if dst.Type() != src.Type() {
		return fmt.Errorf("model: reading %s into %T", gvk, obj)
	}
	dst.Elem().Set(src.Elem())
	return nil
}

// typedCopy returns obj as a new typed object of the scheme, without
// TypeMeta.
func (s *objectStore) typedCopy(obj client.Object, gvk schema.GroupVersionKind) (client.Object, error) {
	out, err := s.w.scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	typed := out.(client.Object)
	if u, ok := obj.(*unstructured.Unstructured); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("decoding %s %s: %v", gvk.Kind, u.GetName(), err))
		}
	} else {
		reflect.ValueOf(typed).Elem().Set(reflect.ValueOf(obj.DeepCopyObject()).Elem())
	}
	typed.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return typed, nil
}

func (s *objectStore) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	gvk, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	stored := s.stored(gvk, key.Namespace, key.Name)
	if stored == nil {
		return notFound(gvk, key.Name)
	}
	return s.copyOut(stored, obj, gvk)
}

// List returns the objects of a kind sorted by namespace and name, as an
// API server does, filtered by namespace and label selector. Field
// selectors are refused.
func (s *objectStore) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return s.list(list, true, opts...)
}

// listShared is List for callers that only read the items. It skips the
// deep copy: the items share their maps, slices and pointers with the
// store, so modifying them would corrupt it. Copy an item before changing
// it. Until the next write of the kind, every call returns the same Items
// array, so a caller must not reorder it either (sorting it by namespace
// and name, the order it already has, is harmless).
func (s *objectStore) listShared(list client.ObjectList) error {
	return s.list(list, false)
}

func (s *objectStore) list(list client.ObjectList, deepCopy bool, opts ...client.ListOption) error {
	gvk, err := s.kindOf(list)
	if err != nil {
		return err
	}
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	if lo.FieldSelector != nil && !lo.FieldSelector.Empty() {
		return apierrors.NewBadRequest(fmt.Sprintf("field selector %s is not supported by the model world", lo.FieldSelector))
	}

	cacheable := !deepCopy && lo.Namespace == "" && lo.LabelSelector == nil
	items := reflect.ValueOf(list).Elem().FieldByName("Items")
	if cached, ok := s.shared[gvk]; ok && cacheable && items.IsValid() {
		items.Set(cached)
		return nil
	}

	objs := s.objects[gvk]
	var keys []string
	for _, k := range s.sortedKeys(gvk) {
		o := objs[k]
		if lo.Namespace != "" && o.GetNamespace() != lo.Namespace {
			continue
		}
		if lo.LabelSelector != nil && !lo.LabelSelector.Matches(labels.Set(o.GetLabels())) {
			continue
		}
		keys = append(keys, k)
	}

	if u, ok := list.(*unstructured.UnstructuredList); ok {
		u.Items = make([]unstructured.Unstructured, len(keys))
		for i, k := range keys {
			if err := s.copyOut(objs[k], &u.Items[i], gvk); err != nil {
				return err
			}
		}
		return nil
	}
	// Fill Items directly: meta.SetList's checks per item were a
	// noticeable share of the model's reads.
	if !items.IsValid() || items.Kind() != reflect.Slice {
		return fmt.Errorf("model: %T has no Items slice", list)
	}
	slice := reflect.MakeSlice(items.Type(), len(keys), len(keys))
	for i, k := range keys {
		var o runtime.Object = objs[k]
		if deepCopy {
			o = o.DeepCopyObject()
		}
		slice.Index(i).Set(reflect.ValueOf(o).Elem())
	}
	items.Set(slice)
	if cacheable {
		s.shared[gvk] = slice
	}
	return nil
}

// sortedKeys returns the namespace/name keys of a kind in order, cached
// until the next create or delete of that kind.
func (s *objectStore) sortedKeys(gvk schema.GroupVersionKind) []string {
	if keys, ok := s.keys[gvk]; ok {
		return keys
	}
	keys := make([]string, 0, len(s.objects[gvk]))
	for k := range s.objects[gvk] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.keys[gvk] = keys
	return keys
}
