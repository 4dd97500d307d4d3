package model

import (
	"errors"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fieldManager returns the field manager of a kind.
func (s *objectStore) fieldManager(gvk schema.GroupVersionKind) (*managedfields.FieldManager, error) {
	if fm, ok := s.managers[gvk]; ok {
		return fm, nil
	}
	fm, err := managedfields.NewDefaultFieldManager(s.w.typeConverter, sameVersion{scheme: s.w.scheme}, noDefaults{}, s.w.scheme, gvk, gvk.GroupVersion(), "", nil)
	if err != nil {
		return nil, fmt.Errorf("model: field manager for %s: %w", gvk, err)
	}
	s.managers[gvk] = fm
	return fm, nil
}

// sameVersion is the field manager's object converter. The model serves
// one version of each kind, so conversion is the identity. Unlike the
// scheme's converter, it keeps unstructured objects unstructured, because
// the merge walks maps much faster than typed structs. kube-apiserver
// does the same for custom resources.
type sameVersion struct{ scheme *runtime.Scheme }

func (sameVersion) Convert(in, out, context any) error {
	return errors.New("model: conversion between versions is not modelled")
}

func (c sameVersion) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	gvk := in.GetObjectKind().GroupVersionKind()
	if gvk.Empty() {
		// A new typed object from the scheme: give it its kind, which
		// the schemas are looked up by.
		kinds, _, err := c.scheme.ObjectKinds(in)
		if err != nil {
			return nil, err
		}
		out := in.DeepCopyObject()
		out.GetObjectKind().SetGroupVersionKind(kinds[0])
		return out, nil
	}
	if _, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{gvk}); !ok {
		return nil, fmt.Errorf("model: no conversion of %s to %v", gvk, gv)
	}
	return in, nil
}

func (sameVersion) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return "", "", errors.New("model: field label conversion is not modelled")
}

// track records manager as the owner of the fields that next changes
// against live (nil for a create), except for untrackedKinds. The status of both is left out: status
// writes do not record ownership here, because no one applies status in
// the model world, and the comparison of large statuses was a large part
// of every write.
func (s *objectStore) track(gvk schema.GroupVersionKind, live, next client.Object, manager string) (client.Object, error) {
	if untrackedKinds[gvk.Kind] {
		return next, nil
	}
	fm, err := s.fieldManager(gvk)
	if err != nil {
		return nil, err
	}
	if live == nil {
		empty, err := s.w.scheme.New(gvk)
		if err != nil {
			return nil, err
		}
		live = empty.(client.Object)
	}

	liveBare, _ := withoutStatus(live)
	nextBare, nextStatus := withoutStatus(next)
	liveU, err := asUnstructured(liveBare, gvk)
	if err != nil {
		return nil, err
	}
	nextU, err := asUnstructured(nextBare, gvk)
	if err != nil {
		return nil, err
	}

	merged, err := fm.Update(liveU, nextU, manager)
	if err != nil {
		return nil, err
	}
	out, err := s.w.toTyped(merged)
	if err != nil {
		return nil, err
	}
	setStatus(out, nextStatus)
	out.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return out, nil
}

// asUnstructured converts a typed object for the field manager.
func asUnstructured(obj client.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("model: converting %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// withoutStatus returns a deep copy of obj with a zero status, and the
// status it had. An object without a Status field comes back as a copy.
func withoutStatus(obj client.Object) (client.Object, reflect.Value) {
	v := reflect.ValueOf(obj.DeepCopyObject())
	status := v.Elem().FieldByName("Status")
	if !status.IsValid() {
		return v.Interface().(client.Object), reflect.Value{}
	}
	saved := reflect.New(status.Type()).Elem()
	saved.Set(status)
	status.Set(reflect.Zero(status.Type()))
	return v.Interface().(client.Object), saved
}

// setStatus puts a status saved by withoutStatus back.
func setStatus(obj client.Object, status reflect.Value) {
	if !status.IsValid() {
		return
	}
	if f := reflect.ValueOf(obj).Elem().FieldByName("Status"); f.IsValid() {
		f.Set(status)
	}
}
