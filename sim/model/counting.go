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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// countingClient wraps the fake API server with what the model's
// controllers need to stay fast over months of virtual time. It counts
// writes per kind, so a controller can skip a round in which nothing it
// reads changed. It also keeps a write-through cache of typed objects, like
// the informers real controllers read from: the fake client deep-copies
// every read through JSON, which made listing the dominant cost.
type countingClient struct {
	client.WithWatch
	w *World
	// cache holds, per kind, the stored objects by namespace/name; a kind
	// is loaded from the fake client on its first read.
	cache map[schema.GroupVersionKind]map[string]client.Object
	// stale holds, per cached kind, the namespace/name keys written since
	// they were last read from the fake client. Reads refresh them first,
	// so several writes to one object between reads cost one refresh.
	stale map[schema.GroupVersionKind]map[string]bool
}

type countingSubResource struct {
	client.SubResourceClient
	c    *countingClient
	name string
}

// kindOf returns the GVK of a typed object or list, without the List
// suffix; ok is false for unstructured values, which bypass the cache.
func (c *countingClient) kindOf(obj runtime.Object) (schema.GroupVersionKind, bool) {
	if _, isUnstructured := obj.(runtime.Unstructured); isUnstructured {
		return schema.GroupVersionKind{}, false
	}
	gvk, err := apiutil.GVKForObject(obj, c.w.scheme)
	if err != nil {
		return schema.GroupVersionKind{}, false
	}
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	return gvk, true
}

// load fills the cache of a kind from the fake client, or refreshes the
// stale entries of a kind already cached.
func (c *countingClient) load(ctx context.Context, gvk schema.GroupVersionKind) (map[string]client.Object, error) {
	if objs, ok := c.cache[gvk]; ok {
		if len(c.stale[gvk]) == 0 {
			return objs, nil
		}
		keys := make([]string, 0, len(c.stale[gvk]))
		for key := range c.stale[gvk] {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		delete(c.stale, gvk)
		for _, key := range keys {
			if err := c.refresh(ctx, gvk, objs, key); err != nil {
				delete(c.cache, gvk)
				return c.load(ctx, gvk)
			}
		}
		return objs, nil
	}
	delete(c.stale, gvk)
	list, err := c.w.scheme.New(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err != nil {
		return nil, err
	}
	if err := c.WithWatch.List(ctx, list.(client.ObjectList)); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	objs := map[string]client.Object{}
	for _, item := range items {
		o := item.(client.Object)
		objs[o.GetNamespace()+"/"+o.GetName()] = o
	}
	c.cache[gvk] = objs
	return objs, nil
}

// Get serves typed objects from the cache.
func (c *countingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	gvk, ok := c.kindOf(obj)
	if !ok || len(opts) > 0 {
		return c.WithWatch.Get(ctx, key, obj, opts...)
	}
	objs, err := c.load(ctx, gvk)
	if err != nil {
		return c.WithWatch.Get(ctx, key, obj, opts...)
	}
	stored, found := objs[key.Namespace+"/"+key.Name]
	if !found {
		return apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: strings.ToLower(gvk.Kind)}, key.Name)
	}
	dst := reflect.ValueOf(obj)
	src := reflect.ValueOf(stored.DeepCopyObject())
	if dst.Type() != src.Type() {
		return c.WithWatch.Get(ctx, key, obj, opts...)
	}
	dst.Elem().Set(src.Elem())
	return nil
}

// List serves typed lists without selectors from the cache, sorted by
// namespace and name as an API server returns them.
func (c *countingClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return c.list(ctx, list, true, opts...)
}

// listShared is List for callers that only read the items. It skips the
// deep copy: the items share their maps, slices and pointers with the
// cache, so modifying them would corrupt it. Copy an item before changing
// it.
func (c *countingClient) listShared(ctx context.Context, list client.ObjectList) error {
	return c.list(ctx, list, false)
}

// listShared lists through the cache without deep copies where the client
// has one; see countingClient.listShared for what the caller must not do.
func (w *World) listShared(ctx context.Context, list client.ObjectList) error {
	if c, ok := w.api.(*countingClient); ok {
		return c.listShared(ctx, list)
	}
	return w.api.List(ctx, list)
}

// list is List, with deep copies of the cached objects when deepCopy is
// set.
func (c *countingClient) list(ctx context.Context, list client.ObjectList, deepCopy bool, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	gvk, ok := c.kindOf(list)
	if !ok || lo.LabelSelector != nil || lo.FieldSelector != nil || lo.Limit != 0 || lo.Continue != "" {
		return c.WithWatch.List(ctx, list, opts...)
	}
	objs, err := c.load(ctx, gvk)
	if err != nil {
		return c.WithWatch.List(ctx, list, opts...)
	}
	keys := make([]string, 0, len(objs))
	for k, o := range objs {
		if lo.Namespace == "" || o.GetNamespace() == lo.Namespace {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	items := make([]runtime.Object, 0, len(keys))
	for _, k := range keys {
		if deepCopy {
			items = append(items, objs[k].DeepCopyObject())
		} else {
			items = append(items, objs[k])
		}
	}
	return meta.SetList(list, items)
}

// written counts a write under the kind, or under kind/status for a write
// to the status subresource. It then marks the cached copy stale, so the
// next read refreshes it from the fake client, which holds the stored form
// with its resource version, managed fields and preserved status.
func (c *countingClient) written(ctx context.Context, obj runtime.Object, subresource string) {
	gvk, ok := c.kindOf(obj)
	if !ok {
		if u, isUnstructured := obj.(*unstructured.Unstructured); isUnstructured {
			c.w.writes[u.GetKind()]++
			delete(c.cache, u.GroupVersionKind())
		}
		return
	}
	if subresource != "" {
		c.w.writes[gvk.Kind+"/"+subresource]++
	} else {
		c.w.writes[gvk.Kind]++
	}
	if _, loaded := c.cache[gvk]; !loaded {
		return
	}
	o := obj.(client.Object)
	if c.stale[gvk] == nil {
		c.stale[gvk] = map[string]bool{}
	}
	c.stale[gvk][o.GetNamespace()+"/"+o.GetName()] = true
}

// refresh replaces the cached copy of the object at key (namespace/name)
// with the fake client's stored form, or drops it when the object is gone.
func (c *countingClient) refresh(ctx context.Context, gvk schema.GroupVersionKind, objs map[string]client.Object, key string) error {
	fresh, err := c.w.scheme.New(gvk)
	if err != nil {
		return err
	}
	namespace, name, _ := strings.Cut(key, "/")
	switch err := c.WithWatch.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, fresh.(client.Object)); {
	case err == nil:
		objs[key] = fresh.(client.Object)
		return nil
	case apierrors.IsNotFound(err):
		delete(objs, key)
		return nil
	default:
		return err
	}
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	err := c.WithWatch.Create(ctx, obj, opts...)
	c.written(ctx, obj, "")
	return err
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	err := c.WithWatch.Update(ctx, obj, opts...)
	c.written(ctx, obj, "")
	return err
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	err := c.WithWatch.Patch(ctx, obj, patch, opts...)
	c.written(ctx, obj, "")
	return err
}

func (c *countingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	err := c.WithWatch.Apply(ctx, obj, opts...)
	if u, uerr := toUnstructured(obj); uerr == nil {
		c.w.writes[u.GetKind()]++
		delete(c.cache, u.GroupVersionKind())
	}
	return err
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	err := c.WithWatch.Delete(ctx, obj, opts...)
	c.written(ctx, obj, "")
	return err
}

func (c *countingClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	err := c.WithWatch.DeleteAllOf(ctx, obj, opts...)
	if gvk, ok := c.kindOf(obj); ok {
		c.w.writes[gvk.Kind]++
		delete(c.cache, gvk)
	}
	return err
}

func (c *countingClient) Status() client.SubResourceWriter {
	return &countingSubResource{SubResourceClient: c.WithWatch.SubResource("status"), c: c, name: "status"}
}

func (c *countingClient) SubResource(name string) client.SubResourceClient {
	return &countingSubResource{SubResourceClient: c.WithWatch.SubResource(name), c: c, name: name}
}

func (s *countingSubResource) Create(ctx context.Context, obj client.Object, sub client.Object, opts ...client.SubResourceCreateOption) error {
	err := s.SubResourceClient.Create(ctx, obj, sub, opts...)
	s.c.written(ctx, obj, s.name)
	return err
}

func (s *countingSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	err := s.SubResourceClient.Update(ctx, obj, opts...)
	s.c.written(ctx, obj, s.name)
	return err
}

func (s *countingSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	err := s.SubResourceClient.Patch(ctx, obj, patch, opts...)
	s.c.written(ctx, obj, s.name)
	return err
}

// writeVersion renders the write counters of kinds; a controller that saw
// the same rendering last time has nothing new to read.
func (w *World) writeVersion(kinds ...string) string {
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "%s=%d;", k, w.writes[k])
	}
	return b.String()
}

// unchanged reports whether the kinds were written since the controller
// named by key last ran, and records this run.
func (w *World) unchanged(key string, kinds ...string) bool {
	v := w.writeVersion(kinds...)
	if w.seen[key] == v {
		return true
	}
	w.seen[key] = v
	return false
}
