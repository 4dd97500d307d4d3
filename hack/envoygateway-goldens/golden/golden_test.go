package golden

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func condition(typ, status, reason string) Condition {
	return Condition{Type: typ, Status: status, Reason: reason}
}

func TestCompareListsEachDifference(t *testing.T) {
	want := Status{
		Gateways: []Gateway{{Namespace: "infra", Name: "edge", Listeners: []Listener{
			{Name: "https-a", AttachedRoutes: 1, Conditions: []Condition{
				condition("Accepted", "True", "Accepted"),
				condition("Programmed", "False", "Invalid"),
			}},
			{Name: "https-b", AttachedRoutes: 0},
		}}},
		Routes: []Route{{Namespace: "apps", Name: "a", Parents: []Parent{
			{Gateway: "infra/edge", SectionName: "https-a", Conditions: []Condition{condition("Accepted", "True", "Accepted")}},
		}}},
	}
	got := Status{
		Gateways: []Gateway{{Namespace: "infra", Name: "edge", Listeners: []Listener{
			{Name: "https-a", AttachedRoutes: 2, Conditions: []Condition{
				condition("Programmed", "True", "Programmed"),
				condition("Conflicted", "True", "HostnameConflict"),
			}},
			{Name: "https-c"},
		}}},
		Routes: []Route{{Namespace: "apps", Name: "a", Parents: []Parent{
			{Gateway: "infra/edge", SectionName: "https-b"},
		}}},
	}

	wantDiffs := []Difference{
		{Object: "Gateway infra/edge listener https-a", Field: "attachedRoutes", Want: "1", Got: "2"},
		{Object: "Gateway infra/edge listener https-a", Field: "Accepted", Want: "True Accepted", Got: "absent"},
		{Object: "Gateway infra/edge listener https-a", Field: "Programmed", Want: "False Invalid", Got: "True Programmed"},
		{Object: "Gateway infra/edge listener https-a", Field: "Conflicted", Want: "absent", Got: "True HostnameConflict"},
		{Object: "Gateway infra/edge listener https-b", Field: "presence", Want: "present", Got: "missing"},
		{Object: "Gateway infra/edge listener https-c", Field: "presence", Want: "missing", Got: "present"},
		{Object: "HTTPRoute apps/a parent infra/edge#https-a", Field: "presence", Want: "present", Got: "missing"},
		{Object: "HTTPRoute apps/a parent infra/edge#https-b", Field: "presence", Want: "missing", Got: "present"},
	}
	diffs := Compare(want, got)
	if !reflect.DeepEqual(diffs, wantDiffs) {
		t.Errorf("Compare returned\n%v\nwant\n%v", diffs, wantDiffs)
	}
	if d := Compare(want, want); len(d) != 0 {
		t.Errorf("Compare of a status with itself returned %v, want none", d)
	}
}

func TestReduceKeepsEnvoyGatewayParentsOnly(t *testing.T) {
	section := gwapiv1.SectionName("https-a")
	namespace := gwapiv1.Namespace("infra")
	route := gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "a"}}
	route.Status.Parents = []gwapiv1.RouteParentStatus{
		{
			ParentRef:      gwapiv1.ParentReference{Name: "edge", Namespace: &namespace, SectionName: &section},
			ControllerName: EnvoyGatewayController,
			Conditions: []metav1.Condition{
				{Type: "ResolvedRefs", Status: metav1.ConditionTrue, Reason: "ResolvedRefs", Message: "dropped"},
				{Type: "Accepted", Status: metav1.ConditionFalse, Reason: "NoMatchingParent"},
			},
		},
		{ParentRef: gwapiv1.ParentReference{Name: "mesh"}, ControllerName: "istio.io/gateway-controller"},
	}

	got := Reduce(nil, []gwapiv1.HTTPRoute{route})
	want := Status{Gateways: []Gateway{}, Routes: []Route{{Namespace: "apps", Name: "a", Parents: []Parent{{
		Gateway: "infra/edge", SectionName: "https-a",
		Conditions: []Condition{condition("Accepted", "False", "NoMatchingParent"), condition("ResolvedRefs", "True", "ResolvedRefs")},
	}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Reduce returned %+v, want %+v", got, want)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	s := Status{
		Gateways: []Gateway{{Namespace: "infra", Name: "edge", Listeners: []Listener{
			{Name: "https", AttachedRoutes: 3, Conditions: []Condition{condition("Programmed", "True", "Programmed")}},
		}}},
		Routes: []Route{{Namespace: "apps", Name: "a", Parents: []Parent{{Gateway: "infra/edge", Port: 443, Conditions: []Condition{}}}}},
	}
	data, err := Marshal("first line\nsecond line", s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), GoldenFile)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if !HasLine(path, "# second line") {
		t.Errorf("golden file has no header line %q:\n%s", "# second line", data)
	}
	got, err := ReadStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("ReadStatus returned %+v, want %+v", got, s)
	}
}

func TestDecodeManifestsRejectsUnknownKind(t *testing.T) {
	manifests := []byte("# description only\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	if _, err := DecodeManifests(manifests); err != nil {
		t.Fatalf("DecodeManifests of a ConfigMap: %v", err)
	}
	unknown := []byte("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\nmetadata:\n  name: x\n")
	if _, err := DecodeManifests(unknown); err == nil {
		t.Error("DecodeManifests accepted a ClientTrafficPolicy, which the model test cannot create")
	}
}
