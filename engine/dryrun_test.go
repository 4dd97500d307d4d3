package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/plan"
)

// versions returns the resourceVersion of every object the engine changes.
func versions(t *testing.T, w *testWorld) map[string]string {
	t.Helper()
	out := map[string]string{}
	ctx := context.Background()
	for _, list := range []client.ObjectList{&gwv1.GatewayList{}, &gwv1.HTTPRouteList{}, &cmv1.CertificateList{}, &cmv1.ClusterIssuerList{}} {
		if err := w.client.List(ctx, list); err != nil {
			t.Fatal(err)
		}
		items, _ := metaItems(list)
		for _, o := range items {
			out[o.GetNamespace()+"/"+o.GetName()+"/"+list.GetObjectKind().GroupVersionKind().Kind] = o.GetResourceVersion()
		}
	}
	return out
}

func metaItems(list client.ObjectList) ([]client.Object, error) {
	var out []client.Object
	switch l := list.(type) {
	case *gwv1.GatewayList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *gwv1.HTTPRouteList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *cmv1.CertificateList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *cmv1.ClusterIssuerList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out, nil
}

func TestDryRunChangesNothing(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	p := testPlan()
	p.Orders = []plan.PlannedOrder{
		{Step: "p2-add-listener-blog", Certificate: "network/blog-tls", Names: []string{"blog.example.com"}},
		{Step: "p2-observe-renewal-blog", Certificate: "network/blog-tls", Names: []string{"blog.example.com"}, Renewal: true},
		{Step: "p3-w1-add-listener-git", Certificate: "network/git-tls", Names: []string{"git.example.com"}},
		{Step: "p3-w2-add-listener-docs", Certificate: "network/docs-tls", Names: []string{"docs.example.com"}},
	}

	before := versions(t, w)
	store := &MemoryStore{}
	var out bytes.Buffer
	res, err := newTestEngine(t, w, p, Options{DryRun: true, Store: store, Out: &out}).Run(context.Background())
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out.String())
	}
	after := versions(t, w)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed from resourceVersion %s to %s", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("dry run created objects: %d before, %d after", len(before), len(after))
	}
	if len(w.client.deleted()) > 0 || len(w.client.applies) > 0 {
		t.Errorf("dry run applied %v and deleted %v", w.client.applies, w.client.deleted())
	}
	if saved, _ := store.Load(context.Background()); saved != nil {
		t.Error("dry run saved progress")
	}
	if len(res.Completed) != 0 {
		t.Errorf("dry run reports completed steps %v", res.Completed)
	}

	text := out.String()
	for _, want := range []string{
		"--- Gateway/network/external (live)\n+++ Gateway/network/external (after)\n",
		"+    cert-manager.io/cluster-issuer: letsencrypt-production\n",
		"+  - allowedRoutes:\n",
		"+    hostname: blog.example.com\n",
		"-    sectionName: https\n+    sectionName: https-blog\n",
		"+    name: https-git\n",
		"# gate: soak 24h0m0s",
		fmt.Sprintf("## budget: these %d steps would place 3 new ACME orders and 1 renewal orders\n", len(p.Steps)),
		"delete Certificate/network/example-com",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("dry-run output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

func TestDryRunShowsEarlierStepsOfTheRun(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	var out bytes.Buffer
	if _, err := newTestEngine(t, w, testPlan(), Options{DryRun: true, Out: &out, Until: "3"}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The docs listener is added to a Gateway that, in the preview,
	// already has blog's and git's.
	text := out.String()
	i := strings.Index(text, "# p3-w2-add-listener-docs")
	if i < 0 {
		t.Fatalf("no diff for p3-w2-add-listener-docs in:\n%s", text)
	}
	if !strings.Contains(text[i:], "\n         name: git-tls\n") {
		t.Errorf("docs diff does not show git's listener as context:\n%s", text[i:])
	}
}
