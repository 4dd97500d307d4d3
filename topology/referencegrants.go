package topology

import (
	"context"
	"fmt"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// ReferenceGrant is a Gateway API ReferenceGrant: it lets objects of the
// From kinds and namespaces refer to objects of the To kinds in the
// grant's own namespace. A Gateway listener needs one to use a
// certificateRef to a Secret in another namespace.
type ReferenceGrant struct {
	Namespace string               `json:"namespace"`
	Name      string               `json:"name"`
	From      []ReferenceGrantFrom `json:"from"`
	To        []ReferenceGrantTo   `json:"to"`
	Origin    Origin               `json:"origin,omitempty"`
}

// ReferenceGrantFrom is one entry of spec.from: the group, kind and
// namespace of the objects that may refer.
type ReferenceGrantFrom struct {
	// Group is empty for the core API group.
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
}

// ReferenceGrantTo is one entry of spec.to: the group and kind of the
// objects that may be referred to, and their name, empty for every object
// of that kind.
type ReferenceGrantTo struct {
	// Group is empty for the core API group.
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
}

// readReferenceGrant reads a ReferenceGrant manifest. Every API version of
// gateway.networking.k8s.io is read alike (v1beta1 up to Gateway API v1.4,
// v1 from v1.5), because the versions share their fields.
func readReferenceGrant(o *renderedObject, f fieldReader, ns, name string) (ReferenceGrant, error) {
	spec := yamlGet(o.root, "spec")
	g := ReferenceGrant{Namespace: ns, Name: name, Origin: Origin{File: o.file, Line: o.line}}
	for _, n := range yamlItems(yamlGet(spec, "from")) {
		v, err := fieldTexts(n, f, "group", "kind", "namespace")
		if err != nil {
			return g, err
		}
		g.From = append(g.From, ReferenceGrantFrom{Group: v[0], Kind: v[1], Namespace: v[2]})
	}
	for _, n := range yamlItems(yamlGet(spec, "to")) {
		v, err := fieldTexts(n, f, "group", "kind", "name")
		if err != nil {
			return g, err
		}
		g.To = append(g.To, ReferenceGrantTo{Group: v[0], Kind: v[1], Name: v[2]})
	}
	return g, nil
}

// fieldTexts returns the substituted text of each key of the mapping n,
// with "" for an absent key.
func fieldTexts(n *yaml.Node, f fieldReader, keys ...string) ([]string, error) {
	out := make([]string, len(keys))
	for i, key := range keys {
		var err error
		if out[i], _, err = f.text(yamlGet(n, key)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadReferenceGrants lists the cluster's ReferenceGrants as
// gateway.networking.k8s.io/v1, which Gateway API serves from v1.5.0,
// and falls back to v1beta1, the only version Gateway API v0.6 to v1.4
// serve. A cluster without the CRD has none.
func loadReferenceGrants(ctx context.Context, c client.Reader, inv *Inventory) error {
	var grants gwapi.ReferenceGrantList
	err := c.List(ctx, &grants)
	if meta.IsNoMatchError(err) {
		var beta gwapiv1beta1.ReferenceGrantList
		if err := listOptional(ctx, c, &beta); err != nil {
			return err
		}
		for i := range beta.Items {
			inv.ReferenceGrants = append(inv.ReferenceGrants, referenceGrantFromAPI((*gwapi.ReferenceGrant)(&beta.Items[i])))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing %T: %w", &grants, err)
	}
	for i := range grants.Items {
		inv.ReferenceGrants = append(inv.ReferenceGrants, referenceGrantFromAPI(&grants.Items[i]))
	}
	return nil
}

func referenceGrantFromAPI(g *gwapi.ReferenceGrant) ReferenceGrant {
	out := ReferenceGrant{Namespace: g.Namespace, Name: g.Name}
	for _, f := range g.Spec.From {
		out.From = append(out.From, ReferenceGrantFrom{Group: string(f.Group), Kind: string(f.Kind), Namespace: string(f.Namespace)})
	}
	for _, t := range g.Spec.To {
		to := ReferenceGrantTo{Group: string(t.Group), Kind: string(t.Kind)}
		if t.Name != nil {
			to.Name = string(*t.Name)
		}
		out.To = append(out.To, to)
	}
	return out
}

// addReferenceGrantV1beta1 registers ReferenceGrant of
// gateway.networking.k8s.io/v1beta1 alone, for loadReferenceGrants' fallback.
// The other v1beta1 kinds stay unregistered, so every other Gateway API
// kind is read and written as v1.
func addReferenceGrantV1beta1(s *runtime.Scheme) error {
	gv := schema.GroupVersion(gwapiv1beta1.GroupVersion)
	s.AddKnownTypes(gv, &gwapiv1beta1.ReferenceGrant{}, &gwapiv1beta1.ReferenceGrantList{})
	metav1.AddToGroupVersion(s, gv)
	return nil
}
