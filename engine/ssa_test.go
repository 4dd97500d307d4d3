package engine

import (
	"context"
	"encoding/json"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	clientgoapply "k8s.io/client-go/applyconfigurations"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clientgotesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration"

	acmev1 "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmapply "github.com/cert-manager/cert-manager/pkg/client/applyconfigurations"
)

// The controller-runtime fake client (v0.24.1) decodes an apply patch into
// the typed object before merging. That fills the required fields the patch
// left out with zero values, so a certwave apply of Gateway listeners
// carries gatewayClassName "" and conflicts with the Gateway's owner. The
// test client therefore intercepts Apply and runs apimachinery's field
// manager on unstructured objects with the Gateway API and cert-manager
// schemas. Listeners then merge by name and parentRefs stay atomic, as on
// a real API server.

func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gwv1.Install, cmv1.AddToScheme, acmev1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// ssaClient counts the calls a test may assert on.
type ssaClient struct {
	client.WithWatch
	mu      sync.Mutex
	deletes []string
	applies []string
}

func newSSAClient(scheme *runtime.Scheme, objs ...client.Object) *ssaClient {
	converters := []managedfields.TypeConverter{
		gwapply.NewTypeConverter(scheme),
		cmapply.NewTypeConverter(scheme),
		clientgoapply.NewTypeConverter(clientgoscheme.Scheme),
	}
	managerFor := func(obj *unstructured.Unstructured) (*managedfields.FieldManager, error) {
		gvk := obj.GroupVersionKind()
		for _, tc := range converters {
			if _, err := tc.ObjectToTyped(obj); err == nil {
				return managedfields.NewDefaultFieldManager(tc, identityConverter{}, noDefaults{}, unstructuredCreater{}, gvk, gvk.GroupVersion(), "", nil)
			}
		}
		return nil, apierrors.NewBadRequest("test client: no schema for " + gvk.String())
	}
	// owners keeps each object's managedFields, because the fake client
	// keeps its own copy on Update and ignores the one it is given.
	owners := map[string][]metav1.ManagedFieldsEntry{}
	var mu sync.Mutex
	sc := &ssaClient{}
	tracker := clientgotesting.NewObjectTracker(scheme, clientgoscheme.Codecs.UniversalDecoder())
	sc.WithWatch = fake.NewClientBuilder().
		WithScheme(scheme).
		WithObjectTracker(tracker).
		WithObjects(objs...).
		WithStatusSubresource(&cmv1.Certificate{}, &gwv1.Gateway{}, &gwv1.HTTPRoute{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
				o := &client.ApplyOptions{}
				o.ApplyOptions(opts)
				data, err := json.Marshal(obj)
				if err != nil {
					return err
				}
				applied := &unstructured.Unstructured{}
				if err := json.Unmarshal(data, applied); err != nil {
					return err
				}
				mgr, err := managerFor(applied)
				if err != nil {
					return err
				}
				live := &unstructured.Unstructured{}
				live.SetGroupVersionKind(applied.GroupVersionKind())
				key := client.ObjectKeyFromObject(applied)
				err = c.Get(ctx, key, live)
				exists := err == nil
				if err != nil && !apierrors.IsNotFound(err) {
					return err
				}
				if !exists {
					live = &unstructured.Unstructured{}
					live.SetGroupVersionKind(applied.GroupVersionKind())
				}
				mu.Lock()
				defer mu.Unlock()
				id := applied.GroupVersionKind().String() + "|" + key.String()
				live.SetManagedFields(owners[id])
				out, err := mgr.Apply(live, applied, o.FieldManager, o.Force != nil && *o.Force)
				if err != nil {
					return err
				}
				u := out.(*unstructured.Unstructured)
				owners[id] = u.GetManagedFields()
				sc.record(&sc.applies, applied.GetKind()+"/"+key.String())
				if exists {
					return c.Update(ctx, u)
				}
				return c.Create(ctx, u)
			},
			// A patch updates ownership as an API server does: fields it
			// removes lose their owners.
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				gvk, err := c.GroupVersionKindFor(obj)
				if err != nil {
					return err
				}
				key := client.ObjectKeyFromObject(obj)
				live := &unstructured.Unstructured{}
				live.SetGroupVersionKind(gvk)
				if err := c.Get(ctx, key, live); err != nil {
					return err
				}
				if err := c.Patch(ctx, obj, patch, opts...); err != nil {
					return err
				}
				updated := &unstructured.Unstructured{}
				updated.SetGroupVersionKind(gvk)
				if err := c.Get(ctx, key, updated); err != nil {
					return err
				}
				mgr, err := managerFor(updated)
				if err != nil {
					return err
				}
				o := &client.PatchOptions{}
				o.ApplyOptions(opts)
				mu.Lock()
				defer mu.Unlock()
				id := gvk.String() + "|" + key.String()
				live.SetManagedFields(owners[id])
				out, err := mgr.Update(live, updated, o.FieldManager)
				if err != nil {
					return err
				}
				owners[id] = out.(*unstructured.Unstructured).GetManagedFields()
				return nil
			},
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				gvk, _ := c.GroupVersionKindFor(obj)
				key := client.ObjectKeyFromObject(obj)
				sc.record(&sc.deletes, gvk.Kind+"/"+key.String())
				mu.Lock()
				delete(owners, gvk.String()+"|"+key.String())
				mu.Unlock()
				return c.Delete(ctx, obj, opts...)
			},
		}).Build()
	return sc
}

func (s *ssaClient) record(list *[]string, entry string) {
	s.mu.Lock()
	*list = append(*list, entry)
	s.mu.Unlock()
}

func (s *ssaClient) deleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deletes...)
}

type identityConverter struct{}

func (identityConverter) Convert(in, out, context any) error { return nil }
func (identityConverter) ConvertToVersion(in runtime.Object, _ runtime.GroupVersioner) (runtime.Object, error) {
	return in, nil
}
func (identityConverter) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

type noDefaults struct{}

func (noDefaults) Default(runtime.Object) {}

type unstructuredCreater struct{}

func (unstructuredCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u, nil
}
