package model

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// nextVersion returns the resource version after rv.
func nextVersion(rv string) string {
	n, _ := strconv.ParseUint(rv, 10, 64)
	return strconv.FormatUint(n+1, 10)
}

// put stores obj and counts the write under its kind, or kind/subresource.
func (s *objectStore) put(gvk schema.GroupVersionKind, obj client.Object, subresource string) {
	if s.objects[gvk] == nil {
		s.objects[gvk] = map[string]client.Object{}
	}
	key := storeKey(obj.GetNamespace(), obj.GetName())
	if _, exists := s.objects[gvk][key]; !exists {
		delete(s.keys, gvk)
	}
	s.objects[gvk][key] = obj
	delete(s.shared, gvk)
	s.count(gvk, subresource, obj)
}

// count counts a write of obj under its kind, or kind/subresource. A
// write of a Secret a Gateway references, or of Secrets not named (obj
// nil), is also counted under gatewaySecretWrites.
func (s *objectStore) count(gvk schema.GroupVersionKind, subresource string, obj client.Object) {
	if subresource != "" {
		s.w.writes[gvk.Kind+"/"+subresource]++
		return
	}
	s.w.writes[gvk.Kind]++
	if obj == nil {
		s.w.countObjectWrite(gvk.Kind, "", "", true)
	} else {
		s.w.countObjectWrite(gvk.Kind, obj.GetNamespace(), obj.GetName(), false)
	}
	if gvk.Kind == "Secret" && (obj == nil || s.w.gatewayReferencesSecret(obj.GetNamespace(), obj.GetName())) {
		s.w.writes[gatewaySecretWrites]++
	}
}

func (s *objectStore) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	gvk, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	co := (&client.CreateOptions{}).ApplyOptions(opts)
	if obj.GetName() == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("create %s: metadata.name is required", gvk.Kind))
	}

	if obj.GetResourceVersion() != "" {
		return apierrors.NewBadRequest("resourceVersion can not be set for Create requests")
	}
	if s.stored(gvk, obj.GetNamespace(), obj.GetName()) != nil {
		return apierrors.NewAlreadyExists(resourceOf(gvk), obj.GetName())
	}
	if len(co.DryRun) > 0 {
		return nil
	}

	next, err := s.typedCopy(obj, gvk)
	if err != nil {
		return err
	}
	next.SetDeletionTimestamp(nil)
	next.SetManagedFields(nil)
	next, err = s.track(gvk, nil, next, co.FieldManager)
	if err != nil {
		return err
	}
	next.SetResourceVersion("1")
	s.put(gvk, next, "")
	return s.copyOut(next, obj, gvk)
}

// replace stores next in place of the stored object after the checks of
// an update: the object exists, and a resource version, when given, is
// the stored one. subresource is "" or "status".
func (s *objectStore) replace(gvk schema.GroupVersionKind, next client.Object, manager, subresource string) (client.Object, error) {
	live := s.stored(gvk, next.GetNamespace(), next.GetName())
	if live == nil {
		return nil, notFound(gvk, next.GetName())
	}
	if subresource != "" && !statusKinds[gvk.Kind] {
		return nil, notFound(gvk, next.GetName())
	}
	if rv := next.GetResourceVersion(); rv != "" && rv != live.GetResourceVersion() {
		return nil, apierrors.NewConflict(resourceOf(gvk), next.GetName(),
			fmt.Errorf("the object has been modified: resourceVersion %s, stored %s", rv, live.GetResourceVersion()))
	}
	var err error
	switch {
	case subresource != "":
		// A status write changes only the status.
		_, status := withoutStatus(next)
		next, _ = withoutStatus(live)
		setStatus(next, status)
	case statusKinds[gvk.Kind]:
		_, status := withoutStatus(live)
		setStatus(next, status)
		fallthrough
	default:
		if next.GetUID() == "" {
			next.SetUID(live.GetUID())
		}
		if next.GetCreationTimestamp().Time.IsZero() {
			next.SetCreationTimestamp(live.GetCreationTimestamp())
		}
		if next, err = s.track(gvk, live, next, manager); err != nil {
			return nil, err
		}
	}
	next.SetResourceVersion(nextVersion(live.GetResourceVersion()))
	s.put(gvk, next, subresource)
	return next, nil
}

func (s *objectStore) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	uo := (&client.UpdateOptions{}).ApplyOptions(opts)
	return s.update(obj, uo.FieldManager, "", len(uo.DryRun) > 0)
}

func (s *objectStore) update(obj client.Object, manager, subresource string, dryRun bool) error {
	gvk, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	next, err := s.typedCopy(obj, gvk)
	if err != nil {
		return err
	}
	if dryRun {
		return nil
	}
	stored, err := s.replace(gvk, next, manager, subresource)
	if err != nil {
		return err
	}
	return s.copyOut(stored, obj, gvk)
}

// Patch applies a JSON merge patch or a JSON patch; apply patches go
// through server-side apply.
func (s *objectStore) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	po := (&client.PatchOptions{}).ApplyOptions(opts)
	return s.patch(ctx, obj, patch, po, "")
}

func (s *objectStore) patch(ctx context.Context, obj client.Object, patch client.Patch, po *client.PatchOptions, subresource string) error {
	gvk, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	if patch.Type() == types.ApplyPatchType {
		if subresource != "" {
			return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: subresource}, "apply to a subresource in the model world")
		}
		return s.w.applyPatch(ctx, obj, patch, po)
	}

	live := s.stored(gvk, obj.GetNamespace(), obj.GetName())
	if live == nil {
		return notFound(gvk, obj.GetName())
	}
	data, err := patch.Data(obj)
	if err != nil {
		return err
	}
	next, err := patchObject(live, gvk, patch.Type(), data, s.w.scheme)
	if err != nil {
		return err
	}
	if len(po.DryRun) > 0 {
		return nil
	}
	stored, err := s.replace(gvk, next, po.FieldManager, subresource)
	if err != nil {
		return err
	}
	return s.copyOut(stored, obj, gvk)
}

func (s *objectStore) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	_, err := s.w.applyConfiguration(ctx, obj, (&client.ApplyOptions{}).ApplyOptions(opts))
	return err
}

func (s *objectStore) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	gvk, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	do := (&client.DeleteOptions{}).ApplyOptions(opts)
	live := s.stored(gvk, obj.GetNamespace(), obj.GetName())
	if live == nil {
		return notFound(gvk, obj.GetName())
	}
	if p := do.Preconditions; p != nil && p.ResourceVersion != nil && *p.ResourceVersion != live.GetResourceVersion() {
		return apierrors.NewConflict(resourceOf(gvk), obj.GetName(),
			fmt.Errorf("precondition resourceVersion %s, stored %s", *p.ResourceVersion, live.GetResourceVersion()))
	}
	if len(do.DryRun) > 0 {
		return nil
	}
	s.remove(gvk, live)
	return nil
}

// remove deletes a stored object, or marks it deleted at the virtual time
// while it has finalizers.
func (s *objectStore) remove(gvk schema.GroupVersionKind, live client.Object) {
	if len(live.GetFinalizers()) > 0 {
		if live.GetDeletionTimestamp() == nil {
			next := live.DeepCopyObject().(client.Object)
			now := metav1.NewTime(s.w.sched.now)
			next.SetDeletionTimestamp(&now)
			next.SetResourceVersion(nextVersion(live.GetResourceVersion()))
			s.put(gvk, next, "")
		}
		return
	}
	delete(s.objects[gvk], storeKey(live.GetNamespace(), live.GetName()))
	delete(s.keys, gvk)
	delete(s.shared, gvk)
	s.count(gvk, "", live)
}

func (s *objectStore) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	gvk, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	do := (&client.DeleteAllOfOptions{}).ApplyOptions(opts)
	if len(do.DryRun) > 0 {
		return nil
	}
	var doomed []client.Object
	for _, o := range s.objects[gvk] {
		if do.Namespace != "" && o.GetNamespace() != do.Namespace {
			continue
		}
		if do.LabelSelector != nil && !do.LabelSelector.Matches(labels.Set(o.GetLabels())) {
			continue
		}
		doomed = append(doomed, o)
	}
	sort.Slice(doomed, func(i, j int) bool {
		return storeKey(doomed[i].GetNamespace(), doomed[i].GetName()) < storeKey(doomed[j].GetNamespace(), doomed[j].GetName())
	})
	for _, o := range doomed {
		s.remove(gvk, o)
	}
	return nil
}

func (s *objectStore) Status() client.SubResourceWriter { return s.SubResource("status") }

func (s *objectStore) SubResource(name string) client.SubResourceClient {
	return storeSubResource{s: s, name: name}
}

// storeSubResource writes the status subresource; other subresources are
// not served.
type storeSubResource struct {
	s    *objectStore
	name string
}

func (r storeSubResource) supported(gvk schema.GroupVersionKind) error {
	if r.name != "status" {
		return apierrors.NewMethodNotSupported(schema.GroupResource{Group: gvk.Group, Resource: r.name}, "the model world serves only the status subresource")
	}
	return nil
}

func (r storeSubResource) Get(ctx context.Context, obj client.Object, sub client.Object, opts ...client.SubResourceGetOption) error {
	gvk, _ := r.s.kindOf(obj)
	if err := r.supported(gvk); err != nil {
		return err
	}
	return r.s.Get(ctx, client.ObjectKeyFromObject(obj), sub)
}

func (r storeSubResource) Create(ctx context.Context, obj client.Object, sub client.Object, opts ...client.SubResourceCreateOption) error {
	gvk, _ := r.s.kindOf(obj)
	return apierrors.NewMethodNotSupported(schema.GroupResource{Group: gvk.Group, Resource: r.name}, "create on a subresource in the model world")
}

func (r storeSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	gvk, _ := r.s.kindOf(obj)
	if err := r.supported(gvk); err != nil {
		return err
	}
	uo := (&client.SubResourceUpdateOptions{}).ApplyOptions(opts)
	return r.s.update(obj, uo.FieldManager, r.name, len(uo.DryRun) > 0)
}

func (r storeSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	gvk, _ := r.s.kindOf(obj)
	if err := r.supported(gvk); err != nil {
		return err
	}
	po := (&client.SubResourcePatchOptions{}).ApplyOptions(opts)
	return r.s.patch(ctx, obj, patch, &po.PatchOptions, r.name)
}

// Apply is not modelled on subresources: nothing applies status in the
// model world.
func (r storeSubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: r.name}, "apply to a subresource in the model world")
}

// patchObject applies a JSON merge patch (RFC 7386) or a JSON patch
// (RFC 6902) to a copy of live and decodes the result. As in
// kube-apiserver's patch handler, a patch that does not decode is a bad
// request and one that does not apply (a failed "test" operation, a
// missing path) is 422 Unprocessable Entity.
func patchObject(live client.Object, gvk schema.GroupVersionKind, pt types.PatchType, data []byte, scheme *runtime.Scheme) (client.Object, error) {
	doc, err := json.Marshal(live)
	if err != nil {
		return nil, err
	}
	var patched []byte
	switch pt {
	case types.MergePatchType:
		if patched, err = jsonpatch.MergePatch(doc, data); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("merge patch of %s %s: %v", gvk.Kind, live.GetName(), err))
		}
	case types.JSONPatchType:
		ops, err := jsonpatch.DecodePatch(data)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("JSON patch of %s %s: %v", gvk.Kind, live.GetName(), err))
		}
		if patched, err = ops.Apply(doc); err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", resourceOf(gvk), live.GetName(), err.Error(), 0, false)
		}
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("patch type %s is not supported by the model world", pt))
	}
	out, err := scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("patched %s %s does not decode: %v", gvk.Kind, live.GetName(), err))
	}
	obj := out.(client.Object)
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return obj, nil
}
