package engine

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Operation is the kind of request a Change sends.
type Operation string

const (
	// OpApply sends Config as a server-side apply patch.
	OpApply Operation = "apply"
	// OpPatch sends Patch (a JSON merge patch or JSON patch).
	OpPatch Operation = "patch"
	// OpDelete deletes the object; an object already gone is not an error.
	OpDelete Operation = "delete"
)

// Change is one change to one Kubernetes object, described twice: as the
// request an actuator sends and as its expected effect on the object.
type Change struct {
	// Step is the plan step (or rollback) the change belongs to.
	Step    string
	Summary string
	Op      Operation
	GVK     schema.GroupVersionKind
	// Namespace is empty for cluster-scoped kinds.
	Namespace string
	Name      string
	// Config is the apply configuration of an OpApply change. It contains
	// every field certwave owns on the object, because server-side apply
	// removes the fields a manager owned and no longer sends.
	Config runtime.ApplyConfiguration
	// ForceOwnership takes the fields in Config that other managers own.
	// Builders set it only with a comment giving the reason.
	ForceOwnership bool
	// MustExist makes the change fail when the object is missing, so that
	// an apply never creates a partial object such as a Gateway holding
	// only certwave's listeners.
	MustExist bool
	// Patch is the patch of an OpPatch change.
	Patch client.Patch
	// SubResource is "status" for a patch of the status subresource, else
	// empty.
	SubResource string
	// Expect returns the object after the change, given the object before
	// (nil when absent); nil means the object is gone. The dry run prints
	// the difference between the two.
	Expect func(before map[string]any) (map[string]any, error)
}

// Object returns Kind/namespace/name, or Kind/name when cluster-scoped.
func (c *Change) Object() string {
	if c.Namespace == "" {
		return c.GVK.Kind + "/" + c.Name
	}
	return c.GVK.Kind + "/" + c.Namespace + "/" + c.Name
}

// Actuator makes changes. The default sends them to the cluster with
// server-side apply; another actuator could write them to a GitOps
// repository instead.
type Actuator interface {
	Execute(ctx context.Context, c *Change) error
}

// ServerSideApply is the default Actuator: apply patches with field manager
// certwave, plain patches and deletes through a controller-runtime client.
// Every change it makes is idempotent, so repeating a change after a kill
// leaves the object as one execution would.
type ServerSideApply struct {
	client client.Client
}

var _ Actuator = (*ServerSideApply)(nil)

// NewServerSideApply returns an actuator that sends changes through c.
func NewServerSideApply(c client.Client) *ServerSideApply {
	return &ServerSideApply{client: c}
}

// Execute implements Actuator.
func (a *ServerSideApply) Execute(ctx context.Context, c *Change) error {
	if c.MustExist {
		if err := a.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Name}, newObject(a.client.Scheme(), c.GVK)); err != nil {
			return fmt.Errorf("%s %s: %w", c.Op, c.Object(), err)
		}
	}
	var err error
	switch c.Op {
	case OpApply:
		opts := []client.ApplyOption{client.FieldOwner(FieldManager)}
		if c.ForceOwnership {
			opts = append(opts, client.ForceOwnership)
		}
		// A client decodes the API server's response into the
		// configuration it applies, and the listener configurations of a
		// rollback's two Gateway changes are shared: the response to the
		// first rewrote the second's listeners by position. Applying a
		// copy keeps every Change as it was built.
		cfg := cloneValue(reflect.ValueOf(c.Config)).Interface().(runtime.ApplyConfiguration)
		err = a.client.Apply(ctx, cfg, opts...)
	case OpPatch:
		obj := newObject(a.client.Scheme(), c.GVK)
		obj.SetNamespace(c.Namespace)
		obj.SetName(c.Name)
		if c.SubResource == "status" {
			err = a.client.Status().Patch(ctx, obj, c.Patch, client.FieldOwner(FieldManager))
		} else {
			err = a.client.Patch(ctx, obj, c.Patch, client.FieldOwner(FieldManager))
		}
	case OpDelete:
		obj := newObject(a.client.Scheme(), c.GVK)
		obj.SetNamespace(c.Namespace)
		obj.SetName(c.Name)
		err = client.IgnoreNotFound(a.client.Delete(ctx, obj))
	default:
		err = fmt.Errorf("unknown operation %q", c.Op)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", c.Op, c.Object(), err)
	}
	return nil
}

// newObject returns an empty object of kind gvk: the typed object when the
// scheme has the kind registered, else an unstructured one.
func newObject(scheme *runtime.Scheme, gvk schema.GroupVersionKind) client.Object {
	if scheme != nil {
		if o, err := scheme.New(gvk); err == nil {
			if obj, ok := o.(client.Object); ok {
				obj.GetObjectKind().SetGroupVersionKind(gvk)
				return obj
			}
		}
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// readObject returns the object as a map without status and server-set
// metadata, or nil when it does not exist.
func readObject(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, namespace, name string) (map[string]any, error) {
	obj := newObject(c.Scheme(), gvk)
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	m["apiVersion"], m["kind"] = gvk.GroupVersion().String(), gvk.Kind
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		for _, k := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"} {
			delete(meta, k)
		}
	}
	return m, nil
}
