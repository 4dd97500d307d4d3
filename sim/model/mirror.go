package model

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// Mirror runs the model's Envoy Gateway and reflector controllers against
// another API server, such as the local stack's kube-apiserver, where no
// Envoy Gateway or reflector runs. Each Sync copies the Namespaces,
// GatewayClasses, Secrets, ReferenceGrants, Gateways and HTTPRoutes of
// that server into a model world and lets the two controllers settle
// there. It then writes back what they changed: Gateway and HTTPRoute
// status, as Envoy Gateway would, and reflector's mirror Secrets. Between
// Syncs, its prober reports what the modelled data plane serves, as the
// model world's prober does.
type Mirror struct {
	w *World
	c client.Client
	// synced is the resource version each object had on the server at
	// the last Sync, per kind and namespace/name.
	synced map[schema.GroupVersionKind]map[string]string
}

// mirrorKinds are the kinds a Mirror copies, in the order it writes them.
var mirrorKinds = []struct {
	list   func() client.ObjectList
	object client.Object
	// status is set for kinds whose status the Mirror writes; the others
	// are written whole.
	status bool
	// write is set for kinds the Mirror writes at all.
	write bool
}{
	{list: func() client.ObjectList { return &corev1.NamespaceList{} }, object: &corev1.Namespace{}},
	{list: func() client.ObjectList { return &gwapiv1.GatewayClassList{} }, object: &gwapiv1.GatewayClass{}},
	{list: func() client.ObjectList { return &corev1.SecretList{} }, object: &corev1.Secret{}, write: true},
	// Read as gateway.networking.k8s.io/v1, which the local stack's
	// Gateway API v1.6.0 CRDs serve.
	{list: func() client.ObjectList { return &gwapiv1.ReferenceGrantList{} }, object: &gwapiv1.ReferenceGrant{}},
	{list: func() client.ObjectList { return &gwapiv1.GatewayList{} }, object: &gwapiv1.Gateway{}, status: true, write: true},
	{list: func() client.ObjectList { return &gwapiv1.HTTPRouteList{} }, object: &gwapiv1.HTTPRoute{}, status: true, write: true},
}

// NewMirror returns a Mirror of the API server behind c. The inventory
// gives the client paths the prober serves. opts gives the
// version-dependent rules, such as Envoy Gateway's version for listener
// isolation; its seed and faults play no part.
func NewMirror(inv *topology.Inventory, opts Options, c client.Client) (*Mirror, error) {
	w, err := newWorld(inv, opts)
	if err != nil {
		return nil, err
	}
	w.edgeOnly = true
	return &Mirror{w: w, c: c, synced: map[schema.GroupVersionKind]map[string]string{}}, nil
}

// Sync reads the server's objects, runs the controllers at now and writes
// back what they changed. It returns the number of writes. A write that
// conflicts with a change on the server is left for the next Sync.
func (m *Mirror) Sync(ctx context.Context, now time.Time) (int, error) {
	w := m.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.After(w.sched.now) {
		w.sched.now = now
	}
	if err := m.load(ctx); err != nil {
		return 0, err
	}
	w.settle()
	return m.push(ctx)
}

// load replaces the world's copies of the mirrored kinds with the
// server's objects.
func (m *Mirror) load(ctx context.Context) error {
	s := m.w.api
	for _, k := range mirrorKinds {
		gvk, err := s.kindOf(k.object)
		if err != nil {
			return err
		}
		list := k.list()
		if err := m.c.List(ctx, list); err != nil {
			return fmt.Errorf("mirror: listing %s: %w", gvk.Kind, err)
		}
		objs, versions := map[string]client.Object{}, map[string]string{}
		items, err := ListObjects(list)
		if err != nil {
			return err
		}
		for _, o := range items {
			o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
			key := storeKey(o.GetNamespace(), o.GetName())
			objs[key] = o
			versions[key] = o.GetResourceVersion()
		}
		s.objects[gvk] = objs
		delete(s.keys, gvk)
		delete(s.shared, gvk)
		s.count(gvk, "", nil)
		m.synced[gvk] = versions
	}
	return nil
}

// push writes the objects the controllers changed, created or deleted.
func (m *Mirror) push(ctx context.Context) (int, error) {
	s := m.w.api
	writes := 0
	for _, k := range mirrorKinds {
		if !k.write {
			continue
		}
		gvk, _ := s.kindOf(k.object)
		owner := client.FieldOwner(reflectorFieldOwner)
		if k.status {
			owner = client.FieldOwner(gatewayFieldOwner)
		}
		synced := m.synced[gvk]
		keys := s.sortedKeys(gvk)
		for _, key := range keys {
			local := s.objects[gvk][key]
			rv, existed := synced[key]
			if existed && local.GetResourceVersion() == rv {
				continue
			}
			out := local.DeepCopyObject().(client.Object)
			out.SetManagedFields(nil)
			var err error
			switch {
			case !existed:
				out.SetResourceVersion("")
				out.SetUID("")
				err = m.c.Create(ctx, out, owner)
			case k.status:
				out.SetResourceVersion(rv)
				err = m.c.Status().Update(ctx, out, owner)
			default:
				out.SetResourceVersion(rv)
				err = m.c.Update(ctx, out, owner)
			}
			if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
				continue // the server changed; the next Sync reads the change
			}
			if err != nil {
				return writes, fmt.Errorf("mirror: writing %s %s: %w", gvk.Kind, key, err)
			}
			writes++
		}
		var deleted []string
		for key := range synced {
			if _, ok := s.objects[gvk][key]; !ok {
				deleted = append(deleted, key)
			}
		}
		sort.Strings(deleted)
		for _, key := range deleted {
			obj := k.object.DeepCopyObject().(client.Object)
			ns, name, _ := strings.Cut(key, "/")
			obj.SetNamespace(ns)
			obj.SetName(name)
			if err := m.c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				return writes, fmt.Errorf("mirror: deleting %s %s: %w", gvk.Kind, key, err)
			}
			writes++
		}
	}
	return writes, nil
}

// Prober returns a prober of the modelled data plane as of the last Sync.
func (m *Mirror) Prober() engine.Prober { return prober{w: m.w} }

// Availability is, per host, the fraction of the time since the first
// Sync that its probes were served.
func (m *Mirror) Availability() map[string]float64 { return m.w.Availability() }

// Trace returns what the mirrored controllers decided: listener and route
// status changes, reflector's writes, errors.
func (m *Mirror) Trace() []TraceEvent { return m.w.Trace() }

// ListObjects returns the items of a typed list as objects.
func ListObjects(list client.ObjectList) ([]client.Object, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(items))
	for _, it := range items {
		o, ok := it.(client.Object)
		if !ok {
			return nil, fmt.Errorf("mirror: %T in %T is not an object", it, list)
		}
		out = append(out, o)
	}
	return out, nil
}
