package model

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	clientgoapply "k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmapply "github.com/cert-manager/cert-manager/pkg/client/applyconfigurations"
)

// newScheme registers core/v1, Gateway API v1 and cert-manager's
// certmanager/v1 and acme/v1 types: the kinds the model world serves.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, gwapiv1.Install, cmapi.AddToScheme, cmacme.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("model: building the scheme: %w", err)
		}
	}
	return s, nil
}

// schemes are the scheme and the apply schemas every world reads. Nothing
// writes them after they are built, so the worlds of a process share them.
// Parsing the schemas took about a tenth of a reference migration.
type schemes struct {
	scheme        *runtime.Scheme
	typeConverter chainConverter
}

var sharedSchemes = sync.OnceValues(func() (schemes, error) {
	scheme, err := newScheme()
	if err != nil {
		return schemes{}, err
	}
	return schemes{scheme: scheme, typeConverter: newTypeConverter(scheme)}, nil
})

// newRESTMapper maps the kinds the model serves, with their scope.
func newRESTMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	add := func(gv schema.GroupVersion, scope meta.RESTScope, kinds ...string) {
		for _, k := range kinds {
			m.Add(gv.WithKind(k), scope)
		}
	}
	add(corev1.SchemeGroupVersion, meta.RESTScopeRoot, "Namespace")
	add(corev1.SchemeGroupVersion, meta.RESTScopeNamespace, "Secret", "Event", "ConfigMap", "Service")
	add(gwapiv1.SchemeGroupVersion, meta.RESTScopeRoot, "GatewayClass")
	add(gwapiv1.SchemeGroupVersion, meta.RESTScopeNamespace, "Gateway", "HTTPRoute")
	add(cmapi.SchemeGroupVersion, meta.RESTScopeRoot, "ClusterIssuer")
	add(cmapi.SchemeGroupVersion, meta.RESTScopeNamespace, "Certificate", "CertificateRequest", "Issuer")
	add(cmacme.SchemeGroupVersion, meta.RESTScopeNamespace, "Order", "Challenge")
	return m
}

// newTypeConverter returns the schemas that server-side apply merges with.
// They are the ones the projects generate for their apply configurations:
// client-go's for core kinds, gateway-api's and cert-manager's. As in the
// CRDs of gateway-api v1.6.0 (config/crd/standard), Gateway
// spec.listeners is a map keyed by name and HTTPRoute spec.parentRefs is
// atomic. The deduced converter, which treats every list as atomic, is
// the last resort.
func newTypeConverter(scheme *runtime.Scheme) chainConverter {
	clientGo := runtime.NewScheme()
	_ = corev1.AddToScheme(clientGo)
	return chainConverter{
		clientgoapply.NewTypeConverter(clientGo),
		gwapply.NewTypeConverter(scheme),
		cmapply.NewTypeConverter(scheme),
		managedfields.NewDeducedTypeConverter(),
	}
}

// apiClient is the client the engine gets: the model's object store, with
// the model's controllers reacting after every successful write.
type apiClient struct {
	client.Client
	w *World
}

var _ client.Client = (*apiClient)(nil)

// Get reads an object; see dropManagedFieldTimes.
func (c *apiClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	dropManagedFieldTimes(obj)
	return nil
}

// List reads a list; see dropManagedFieldTimes.
func (c *apiClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	return meta.EachListItem(list, func(o runtime.Object) error {
		dropManagedFieldTimes(o)
		return nil
	})
}

// ListVersion returns the number of writes to objects of kind and to
// their subresources. It implements the engine's optional listVersioner,
// because a List of the kind returns the same objects while that number
// is unchanged.
func (c *apiClient) ListVersion(kind string) string {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	var total uint64
	for k, n := range c.w.writes {
		if k == kind || strings.HasPrefix(k, kind+"/") {
			total += n
		}
	}
	return strconv.FormatUint(total, 10)
}

// dropManagedFieldTimes clears the times of managedFields entries, which
// apimachinery's field manager takes from the wall clock, so that what the
// engine reads replays byte for byte.
func dropManagedFieldTimes(obj runtime.Object) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	fields := acc.GetManagedFields()
	for i := range fields {
		fields[i].Time = nil
	}
	acc.SetManagedFields(fields)
}

func (c *apiClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	c.w.stampNew(obj)
	if err := c.Client.Create(ctx, obj, opts...); err != nil {
		return err
	}
	c.w.afterWrite(byManager("create", (&client.CreateOptions{}).ApplyOptions(opts).FieldManager), c.w.refOf(obj))
	return nil
}

func (c *apiClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if err := c.Client.Update(ctx, obj, opts...); err != nil {
		return err
	}
	c.w.afterWrite(byManager("update", (&client.UpdateOptions{}).ApplyOptions(opts).FieldManager), c.w.refOf(obj))
	return nil
}

func (c *apiClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if patch.Type() == types.ApplyPatchType {
		po := (&client.PatchOptions{}).ApplyOptions(opts)
		if err := c.w.applyPatch(ctx, obj, patch, po); err != nil {
			return err
		}
		if len(po.DryRun) == 0 {
			c.w.afterWrite(byManager("apply", po.FieldManager), c.w.refOf(obj))
		}
		return nil
	}
	if err := c.Client.Patch(ctx, obj, patch, opts...); err != nil {
		return err
	}
	c.w.afterWrite(byManager("patch:"+string(patch.Type()), (&client.PatchOptions{}).ApplyOptions(opts).FieldManager), c.w.refOf(obj))
	return nil
}

func (c *apiClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	ao := (&client.ApplyOptions{}).ApplyOptions(opts)
	ref, err := c.w.applyConfiguration(ctx, obj, ao)
	if err != nil {
		return err
	}
	if len(ao.DryRun) == 0 {
		c.w.afterWrite(byManager("apply", ao.FieldManager), ref)
	}
	return nil
}

func (c *apiClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if err := c.Client.Delete(ctx, obj, opts...); err != nil {
		return err
	}
	c.w.afterWrite("delete", c.w.refOf(obj))
	return nil
}

func (c *apiClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if err := c.Client.DeleteAllOf(ctx, obj, opts...); err != nil {
		return err
	}
	ref := c.w.refOf(obj)
	ref.Name = "*"
	c.w.afterWrite("delete-all-of", ref)
	return nil
}

func (c *apiClient) Status() client.SubResourceWriter {
	return &subResourceClient{SubResourceClient: c.Client.SubResource("status"), name: "status", w: c.w}
}

func (c *apiClient) SubResource(subResource string) client.SubResourceClient {
	return &subResourceClient{SubResourceClient: c.Client.SubResource(subResource), name: subResource, w: c.w}
}

// subResourceClient wraps writes to a subresource like apiClient does.
type subResourceClient struct {
	client.SubResourceClient
	name string
	w    *World
}

func (c *subResourceClient) Create(ctx context.Context, obj client.Object, sub client.Object, opts ...client.SubResourceCreateOption) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if err := c.SubResourceClient.Create(ctx, obj, sub, opts...); err != nil {
		return err
	}
	c.w.afterWrite(c.name+"-create", c.w.refOf(obj))
	return nil
}

func (c *subResourceClient) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if err := c.SubResourceClient.Update(ctx, obj, opts...); err != nil {
		return err
	}
	c.w.afterWrite(c.name+"-update", c.w.refOf(obj))
	return nil
}

func (c *subResourceClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if err := c.SubResourceClient.Patch(ctx, obj, patch, opts...); err != nil {
		return err
	}
	c.w.afterWrite(c.name+"-patch", c.w.refOf(obj))
	return nil
}

// Apply is not modelled on subresources: nothing applies status in the
// model world.
func (c *subResourceClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: c.name}, "apply to a subresource in the model world")
}

// byManager appends the field manager to a verb for the trace.
func byManager(verb, manager string) string {
	if manager == "" {
		return verb
	}
	return verb + " by " + manager
}

// objectRef identifies an object in the trace.
type objectRef struct {
	GVK       schema.GroupVersionKind
	Namespace string
	Name      string
}

func (r objectRef) String() string {
	if r.Namespace == "" {
		return r.GVK.Kind + "/" + r.Name
	}
	return r.GVK.Kind + "/" + r.Namespace + "/" + r.Name
}

// refOf returns the identity of a typed or unstructured object.
func (w *World) refOf(obj client.Object) objectRef {
	gvk, err := apiutil.GVKForObject(obj, w.scheme)
	if err != nil {
		gvk = obj.GetObjectKind().GroupVersionKind()
	}
	return objectRef{GVK: gvk, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// stampNew gives an object about to be created the UID and creation time
// that a real API server would give it. The fake client sets neither, but
// owner references and cert-manager's duplicate-Secret rule compare them.
func (w *World) stampNew(obj client.Object) {
	if obj.GetUID() == "" {
		obj.SetUID(w.nextUID())
	}
	if ts := obj.GetCreationTimestamp(); ts.IsZero() {
		obj.SetCreationTimestamp(metav1.NewTime(w.sched.now))
	}
}

// nextUID returns a deterministic UUID-shaped UID.
func (w *World) nextUID() types.UID {
	w.uidSeq++
	return types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", w.uidSeq))
}
