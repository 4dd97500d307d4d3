package engine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	"github.com/certwave/certwave/plan"
)

func TestGatewayApplyKeepsOtherListeners(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	res, err := newTestEngine(t, w, testPlan(), Options{Until: "phase2"}).Run(context.Background())
	if err != nil || res.Stopped != nil {
		t.Fatalf("Run: err=%v stop=%v", err, res.Stopped)
	}
	gw := getGateway(t, w, "external")
	if got, want := listenerNames(gw), []string{"http", "https", "https-blog"}; !slices.Equal(got, want) {
		t.Fatalf("external listeners = %v, want %v", got, want)
	}
	if gw.Spec.GatewayClassName != "envoy" {
		t.Errorf("gatewayClassName = %q, want envoy (an apply must not touch it)", gw.Spec.GatewayClassName)
	}
	if got := gw.Annotations["cert-manager.io/cluster-issuer"]; got != "letsencrypt-production" {
		t.Errorf("cluster-issuer annotation = %q, want it kept by later listener applies", got)
	}
	internal := getGateway(t, w, "internal")
	if got, want := listenerNames(internal), []string{"http", "https", "https-wiki"}; !slices.Equal(got, want) {
		t.Errorf("internal listeners = %v, want %v", got, want)
	}
}

func TestGatewayChangeSendsOnlyOwnedFields(t *testing.T) {
	p := testPlan()
	w := newTestWorld(t, testObjects()...)
	e := newTestEngine(t, w, p, Options{})
	done := map[string]bool{"p0-annotate-network-external": true, "p2-add-listener-blog": true}
	before, err := e.ownedGateway("network/external", done, nil)
	if err != nil {
		t.Fatal(err)
	}
	done["p3-w1-add-listener-git"] = true
	after, err := e.ownedGateway("network/external", done, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := gatewayChange("p3-w1-add-listener-git", "network/external", "add git", before, after)
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := toMap(ch.Config)
	if err != nil {
		t.Fatal(err)
	}
	listeners := nested(cfg, "spec")["listeners"].([]any)
	var names []string
	for _, l := range listeners {
		names = append(names, l.(map[string]any)["name"].(string))
	}
	if !slices.Equal(names, []string{"https-blog", "https-git"}) {
		t.Errorf("applied listeners = %v, want certwave's only", names)
	}
	if _, ok := nested(cfg, "spec")["gatewayClassName"]; ok {
		t.Error("apply sets gatewayClassName, want it left to its owner")
	}
	if got := nested(cfg, "metadata", "annotations")["cert-manager.io/cluster-issuer"]; got != "letsencrypt-production" {
		t.Errorf("apply annotations lack cluster-issuer (got %v): SSA would remove it", got)
	}

	git := listeners[1].(map[string]any)
	raw, _ := json.Marshal(git)
	for _, want := range []string{`"hostname":"git.example.com"`, `"port":443`, `"protocol":"HTTPS"`, `"mode":"Terminate"`, `"name":"git-tls"`, `"kind":"Secret"`, `"from":"All"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("listener %s lacks %s", raw, want)
		}
	}
	if !ch.MustExist {
		t.Error("Gateway change may create the Gateway, want MustExist")
	}
}

func TestRouteFlipKeepsOtherParentRefs(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	e := newTestEngine(t, w, testPlan(), Options{})
	ch, err := e.routeChange(context.Background(), "flip", "apps/blog", "network/external", "https", "https-blog", refMove)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.ForceOwnership {
		t.Error("route flip does not force ownership of the atomic parentRefs")
	}
	if err := NewServerSideApply(w.client).Execute(context.Background(), ch); err != nil {
		t.Fatalf("apply flip: %v", err)
	}
	r := &gwv1.HTTPRoute{}
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: "apps", Name: "blog"}, r); err != nil {
		t.Fatal(err)
	}
	var sections []string
	for _, ref := range r.Spec.ParentRefs {
		sections = append(sections, string(*ref.SectionName))
	}
	if !slices.Equal(sections, []string{"https-blog", "http"}) {
		t.Errorf("parentRef sections = %v, want [https-blog http]", sections)
	}
	if len(r.Spec.Hostnames) != 1 {
		t.Errorf("hostnames = %v, want them kept", r.Spec.Hostnames)
	}
}

func TestRemoveListenerOfOtherManager(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	e := newTestEngine(t, w, testPlan(), Options{})
	ch, err := e.removeForeignListenerChange(context.Background(), "p4", "network/external", "https")
	if err != nil || ch == nil {
		t.Fatalf("change = %v, err = %v", ch, err)
	}
	if err := NewServerSideApply(w.client).Execute(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	if got := listenerNames(getGateway(t, w, "external")); !slices.Equal(got, []string{"http"}) {
		t.Errorf("listeners = %v, want [http]", got)
	}
	again, err := e.removeForeignListenerChange(context.Background(), "p4", "network/external", "https")
	if err != nil || again != nil {
		t.Errorf("second removal = %v, %v; want no change", again, err)
	}
}

func TestNewRejectsDuplicateStepIDs(t *testing.T) {
	p := testPlan()
	p.Steps = append(p.Steps, plan.Step{ID: "p0-preflight", Kind: plan.StepPreflight})
	if _, err := New(newTestWorld(t, testObjects()...), p, Options{}); err == nil {
		t.Error("New accepted a repeated step ID")
	}
}

func TestRouteAddAndRemoveParentRef(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	e := newTestEngine(t, w, testPlan(), Options{})
	ctx := context.Background()
	apply := func(from, to string, edit refEdit) {
		t.Helper()
		ch, err := e.routeChange(ctx, "flip", "apps/blog", "network/external", from, to, edit)
		if err != nil {
			t.Fatal(err)
		}
		if err := NewServerSideApply(w.client).Execute(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}

	apply("", "https-www", refAdd)
	apply("", "https-www", refAdd)
	if got := routeSections(t, w, "blog"); !slices.Equal(got, []string{"https", "http", "https-www"}) {
		t.Errorf("sections after two adds = %v, want one parentRef added", got)
	}
	apply("https-www", "", refRemove)
	if got := routeSections(t, w, "blog"); !slices.Equal(got, []string{"https", "http"}) {
		t.Errorf("sections after remove = %v, want [https http]", got)
	}
}

func TestAddsParentRefOnLaterFlips(t *testing.T) {
	p := testPlan()
	first := plan.Step{ID: "x-flip-1", Kind: plan.StepFlipRoute, Route: "apps/blog", Gateway: "network/external", FromSection: "https", SectionName: "https-blog"}
	later := plan.Step{ID: "x-flip-2", Kind: plan.StepFlipRoute, Route: "apps/blog", Gateway: "network/external", SectionName: "https-www"}
	p.Steps = []plan.Step{first, later}
	e := newTestEngine(t, newTestWorld(t, testObjects()...), p, Options{})
	if e.addsParentRef(&p.Steps[0]) {
		t.Error("first flip adds a parentRef, want a move")
	}
	if !e.addsParentRef(&p.Steps[1]) {
		t.Error("later flip without fromSection moves, want an added parentRef")
	}
}

// respondingClient decodes a fixed API server response into every
// configuration it applies, as controller-runtime's client does with the
// real response.
type respondingClient struct {
	client.Client
	response string
}

func (c respondingClient) Apply(_ context.Context, obj runtime.ApplyConfiguration, _ ...client.ApplyOption) error {
	return json.Unmarshal([]byte(c.response), obj)
}

// Executing a change leaves its configuration as built: the response
// decoded into shared listener configurations once moved another listener's
// hostname onto http in a phase-4 rollback.
func TestApplyLeavesChangeConfigUnchanged(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	auth := gwac.Listener().WithName("https-auth").WithHostname("auth.example.com").WithPort(443)
	cfg := gwac.Gateway("external", "network").WithSpec(gwac.GatewaySpec().WithListeners(auth))
	ch := &Change{Op: OpApply, GVK: gvkGateway, Namespace: "network", Name: "external", Config: cfg}
	a := NewServerSideApply(respondingClient{Client: w.client,
		response: `{"spec":{"listeners":[{"name":"http","port":80},{"name":"https-auth","hostname":"auth.example.com","port":443}]}}`})

	if err := a.Execute(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	if got := *auth.Name; got != "https-auth" {
		t.Errorf("the change's listener is now named %s, want https-auth", got)
	}
	if n := len(cfg.Spec.Listeners); n != 1 {
		t.Errorf("the change's configuration has %d listeners after the apply, want 1", n)
	}
}
