package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"
)

var (
	gvkGateway   = gwv1.SchemeGroupVersion.WithKind("Gateway")
	gvkHTTPRoute = gwv1.SchemeGroupVersion.WithKind("HTTPRoute")
)

// gatewayChange applies everything certwave owns on gateway after the step
// (after), given what it owned before (before). The listener list of a
// Gateway is a map keyed by name in the Gateway API schema, so the apply
// adds and removes only certwave's listeners and leaves the others alone.
func gatewayChange(step, gateway, summary string, before, after gatewayOwned) (*Change, error) {
	ns, name := splitKey(gateway)
	cfg := gwac.Gateway(name, ns).WithSpec(gwac.GatewaySpec().WithListeners(after.listeners...))
	if len(after.annotations) > 0 {
		cfg.WithAnnotations(after.annotations)
	}
	var upsert []map[string]any
	for _, l := range after.listeners {
		m, err := toMap(l)
		if err != nil {
			return nil, fmt.Errorf("encode listener %s: %w", *l.Name, err)
		}
		upsert = append(upsert, m)
	}
	var dropListeners, dropAnnotations []string
	for _, n := range before.listenerNames() {
		if !slices.Contains(after.listenerNames(), n) {
			dropListeners = append(dropListeners, n)
		}
	}
	for k := range before.annotations {
		if _, ok := after.annotations[k]; !ok {
			dropAnnotations = append(dropAnnotations, k)
		}
	}
	return &Change{
		Step: step, Summary: summary, Op: OpApply, GVK: gvkGateway, Namespace: ns, Name: name,
		Config: cfg, MustExist: true,
		Expect: func(live map[string]any) (map[string]any, error) {
			if live == nil {
				return nil, fmt.Errorf("Gateway %s not found", gateway)
			}
			out := copyMap(live)
			annotations := child(child(out, "metadata"), "annotations")
			for _, k := range dropAnnotations {
				delete(annotations, k)
			}
			for k, v := range after.annotations {
				annotations[k] = v
			}
			if len(annotations) == 0 {
				delete(child(out, "metadata"), "annotations")
			}
			return out, setListeners(out, dropListeners, upsert)
		},
	}, nil
}

// refEdit is the kind of edit routeChange makes to a route's parentRefs.
type refEdit int

const (
	// refMove sets sectionName to on the parentRefs to the Gateway with
	// sectionName from.
	refMove refEdit = iota
	// refAdd appends a parentRef to listener to, for a route whose first
	// host already moved and that serves another host.
	refAdd
	// refRemove drops the parentRefs to listener from, undoing refAdd.
	refRemove
)

// routeChange edits the parentRefs of route that point at gateway. An empty
// section means no sectionName. parentRefs is an atomic list in the
// HTTPRoute schema, so the apply sends the whole list with the one entry
// changed. Each edit is idempotent: an edit already made leaves the list as
// it is.
func (e *Engine) routeChange(ctx context.Context, step, route, gateway, from, to string, edit refEdit) (*Change, error) {
	ns, name := splitKey(route)
	obj, err := e.read(ctx, gvkHTTPRoute, ns, name)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("HTTPRoute %s not found", route)
	}
	live := &gwv1.HTTPRoute{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, live); err != nil {
		return nil, fmt.Errorf("decode HTTPRoute %s: %w", route, err)
	}

	gwNS, gwName := splitKey(gateway)
	var refs []*gwac.ParentReferenceApplyConfiguration
	matched, present := false, false
	for _, ref := range live.Spec.ParentRefs {
		refNS := ns
		if ref.Namespace != nil {
			refNS = string(*ref.Namespace)
		}
		isGateway := (ref.Kind == nil || *ref.Kind == "Gateway") && refNS == gwNS && string(ref.Name) == gwName
		section := ""
		if ref.SectionName != nil {
			section = string(*ref.SectionName)
		}
		switch {
		case isGateway && edit == refRemove && section == from:
			continue
		case isGateway && edit == refMove && (section == from || section == to):
			matched = true
			section = to
		case isGateway && section == to:
			present = true
		}
		refs = append(refs, parentRefConfig(ref, section))
	}
	if edit == refAdd && !present {
		refs = append(refs, gwac.ParentReference().
			WithNamespace(gwv1.Namespace(gwNS)).WithName(gwv1.ObjectName(gwName)).WithSectionName(gwv1.SectionName(to)))
	}

	if edit == refMove && !matched {
		return nil, fmt.Errorf("HTTPRoute %s has no parentRef to Gateway %s with sectionName %q or %q", route, gateway, from, to)
	}
	summary := fmt.Sprintf("move HTTPRoute %s from listener %q to %q of Gateway %s", route, from, to, gateway)
	switch edit {
	case refAdd:
		summary = fmt.Sprintf("add a parentRef to listener %q of Gateway %s to HTTPRoute %s", to, gateway, route)
	case refRemove:
		summary = fmt.Sprintf("remove the parentRef to listener %q of Gateway %s from HTTPRoute %s", from, gateway, route)
	}

	cfg := gwac.HTTPRoute(name, ns).WithSpec(gwac.HTTPRouteSpec().WithParentRefs(refs...))
	cfgMap, err := toMap(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode HTTPRoute %s: %w", route, err)
	}
	return &Change{
		Step: step, Op: OpApply, GVK: gvkHTTPRoute, Namespace: ns, Name: name, Config: cfg, MustExist: true,
		Summary: summary,
		// The manager that created the route (kubectl, Flux, Helm) owns
		// parentRefs as one atomic field, so changing a sectionName
		// conflicts unless certwave takes the field.
		// NOTE: a GitOps controller that re-applies its manifest takes it
		// back and restores the old sectionName.
		ForceOwnership: true,
		Expect: func(live map[string]any) (map[string]any, error) {
			if live == nil {
				return nil, fmt.Errorf("HTTPRoute %s not found", route)
			}
			out := copyMap(live)
			child(out, "spec")["parentRefs"] = nested(cfgMap, "spec")["parentRefs"]
			return out, nil
		},
	}, nil
}

func parentRefConfig(ref gwv1.ParentReference, section string) *gwac.ParentReferenceApplyConfiguration {
	out := gwac.ParentReference().WithName(ref.Name)
	if ref.Group != nil {
		out.WithGroup(*ref.Group)
	}
	if ref.Kind != nil {
		out.WithKind(*ref.Kind)
	}
	if ref.Namespace != nil {
		out.WithNamespace(*ref.Namespace)
	}
	if section != "" {
		out.WithSectionName(gwv1.SectionName(section))
	}
	if ref.Port != nil {
		out.WithPort(int32(*ref.Port))
	}
	return out
}

// removeForeignListenerChange removes a listener certwave does not own, such
// as a wildcard listener in phase 4. Server-side apply cannot remove a field
// another manager owns, so this is a JSON patch that first tests the
// listener's position, failing instead of removing the wrong entry when the
// Gateway changed in between. It returns nil when the listener is gone.
func (e *Engine) removeForeignListenerChange(ctx context.Context, step, gateway, listener string) (*Change, error) {
	ns, name := splitKey(gateway)
	live, err := e.read(ctx, gvkGateway, ns, name)
	if err != nil {
		return nil, err
	}
	if live == nil {
		return nil, fmt.Errorf("Gateway %s not found", gateway)
	}
	i := listenerIndex(live, listener)
	if i < 0 {
		return nil, nil
	}
	path := fmt.Sprintf("/spec/listeners/%d", i)
	body, err := json.Marshal([]map[string]any{
		{"op": "test", "path": path + "/name", "value": listener},
		{"op": "remove", "path": path},
	})
	if err != nil {
		return nil, err
	}
	return &Change{
		Step: step, Op: OpPatch, GVK: gvkGateway, Namespace: ns, Name: name,
		Summary: fmt.Sprintf("remove listener %s from Gateway %s", listener, gateway),
		Patch:   client.RawPatch(types.JSONPatchType, body),
		Expect: func(live map[string]any) (map[string]any, error) {
			if live == nil {
				return nil, fmt.Errorf("Gateway %s not found", gateway)
			}
			out := copyMap(live)
			return out, setListeners(out, []string{listener}, nil)
		},
	}, nil
}
