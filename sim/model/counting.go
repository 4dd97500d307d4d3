package model

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// countingClient bumps the world's write counter of a kind on every write.
type countingClient struct {
	client.WithWatch
	w *World
}

type countingSubResource struct {
	client.SubResourceClient
	c *countingClient
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

func (c *countingClient) bump(obj runtime.Object) {
	gvk, err := apiutil.GVKForObject(obj, c.w.scheme)
	if err != nil {
		gvk = obj.GetObjectKind().GroupVersionKind()
	}
	c.w.writes[gvk.Kind]++
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.bump(obj)
	return c.WithWatch.Create(ctx, obj, opts...)
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.bump(obj)
	return c.WithWatch.Update(ctx, obj, opts...)
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.bump(obj)
	return c.WithWatch.Patch(ctx, obj, patch, opts...)
}

func (c *countingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	if u, err := toUnstructured(obj); err == nil {
		c.w.writes[u.GetKind()]++
	}
	return c.WithWatch.Apply(ctx, obj, opts...)
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.bump(obj)
	return c.WithWatch.Delete(ctx, obj, opts...)
}

func (c *countingClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	c.bump(obj)
	return c.WithWatch.DeleteAllOf(ctx, obj, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter {
	return &countingSubResource{SubResourceClient: c.WithWatch.SubResource("status"), c: c}
}

func (c *countingClient) SubResource(name string) client.SubResourceClient {
	return &countingSubResource{SubResourceClient: c.WithWatch.SubResource(name), c: c}
}

func (s *countingSubResource) Create(ctx context.Context, obj client.Object, sub client.Object, opts ...client.SubResourceCreateOption) error {
	s.c.bump(obj)
	return s.SubResourceClient.Create(ctx, obj, sub, opts...)
}

func (s *countingSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.c.bump(obj)
	return s.SubResourceClient.Update(ctx, obj, opts...)
}

func (s *countingSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.c.bump(obj)
	return s.SubResourceClient.Patch(ctx, obj, patch, opts...)
}
