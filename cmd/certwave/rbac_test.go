package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/certwave/certwave/harness"
	"github.com/certwave/certwave/internal/kubecluster"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// apiRequest is one request in the terms of RBAC rules.
type apiRequest struct {
	verb, group, resource, namespace, name string
}

func (r apiRequest) String() string {
	return fmt.Sprintf("%s %s.%s %s/%s", r.verb, r.resource, r.group, r.namespace, r.name)
}

// requestRecorder wraps clients and records the requests sent through
// them.
type requestRecorder struct {
	mu       sync.Mutex
	scheme   *runtime.Scheme
	requests map[apiRequest]bool
}

func (rr *requestRecorder) add(verb string, obj runtime.Object, namespace, name, sub string) {
	gvk, err := apiutil.GVKForObject(obj, rr.scheme)
	if err != nil {
		panic(fmt.Sprintf("recording %s of %T: %v", verb, obj, err))
	}
	rr.addGVK(verb, gvk, namespace, name, sub)
}

func (rr *requestRecorder) addGVK(verb string, gvk schema.GroupVersionKind, namespace, name, sub string) {
	resource := strings.ToLower(strings.TrimSuffix(gvk.Kind, "List")) + "s"
	if sub != "" {
		resource += "/" + sub
	}
	rr.mu.Lock()
	rr.requests[apiRequest{verb: verb, group: gvk.Group, resource: resource, namespace: namespace, name: name}] = true
	rr.mu.Unlock()
}

func (rr *requestRecorder) wrap(c client.Client) client.Client {
	return interceptor.NewClient(withWatchStub{c}, interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			rr.add("get", obj, key.Namespace, key.Name, "")
			return cl.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			lo := (&client.ListOptions{}).ApplyOptions(opts)
			rr.add("list", list, lo.Namespace, "", "")
			return cl.List(ctx, list, opts...)
		},
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			rr.add("create", obj, obj.GetNamespace(), "", "")
			return cl.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			rr.add("update", obj, obj.GetNamespace(), obj.GetName(), "")
			return cl.Update(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			rr.add("delete", obj, obj.GetNamespace(), obj.GetName(), "")
			return cl.Delete(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			rr.add("patch", obj, obj.GetNamespace(), obj.GetName(), "")
			return cl.Patch(ctx, obj, patch, opts...)
		},
		Apply: func(ctx context.Context, cl client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			rr.recordApply(ctx, cl, obj)
			return cl.Apply(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			rr.add("patch", obj, obj.GetNamespace(), obj.GetName(), sub)
			return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
}

// recordApply records an apply as a patch, and as a create too when it
// creates the object: kube-apiserver v1.36 authorizes such a patch for
// create as well (apiserver's endpoints/handlers/patch.go).
func (rr *requestRecorder) recordApply(ctx context.Context, cl client.Client, obj runtime.ApplyConfiguration) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		panic(fmt.Sprintf("recording an apply of %T: %v", obj, err))
	}
	u := &unstructured.Unstructured{Object: m}
	gvk := u.GroupVersionKind()
	rr.addGVK("patch", gvk, u.GetNamespace(), u.GetName(), "")
	probe := &unstructured.Unstructured{}
	probe.SetGroupVersionKind(gvk)
	if err := cl.Get(ctx, client.ObjectKey{Namespace: u.GetNamespace(), Name: u.GetName()}, probe); apierrors.IsNotFound(err) {
		rr.addGVK("create", gvk, u.GetNamespace(), "", "")
	}
}

// recordedWorld is a World whose client records requests.
type recordedWorld struct {
	harness.World
	client client.Client
}

func (w recordedWorld) Client() client.Client { return w.client }

// loadRBAC reads the ClusterRole and the Role of the manifest.
func loadRBAC(t *testing.T, path string) (cluster []rbacv1.PolicyRule, namespaced map[string][]rbacv1.PolicyRule) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	namespaced = map[string][]rbacv1.PolicyRule{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := reader.Read()
		if err != nil {
			break
		}
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch head.Kind {
		case "ClusterRole":
			var role rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict(doc, &role); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			cluster = append(cluster, role.Rules...)
		case "Role":
			var role rbacv1.Role
			if err := yaml.UnmarshalStrict(doc, &role); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			namespaced[role.Namespace] = append(namespaced[role.Namespace], role.Rules...)
		}
	}
	if len(cluster) == 0 || len(namespaced) == 0 {
		t.Fatalf("%s has no ClusterRole or no Role", path)
	}
	return cluster, namespaced
}

func allows(rules []rbacv1.PolicyRule, r apiRequest) bool {
	for _, rule := range rules {
		if slices.Contains(rule.APIGroups, r.group) && slices.Contains(rule.Resources, r.resource) && slices.Contains(rule.Verbs, r.verb) &&
			(len(rule.ResourceNames) == 0 || (r.name != "" && slices.Contains(rule.ResourceNames, r.name))) {
			return true
		}
	}
	return false
}

func TestRBACCoversEveryRequest(t *testing.T) {
	mc, planFile, _ := newModelCluster(t)
	rec := &requestRecorder{scheme: runScheme(), requests: map[apiRequest]bool{}}
	world := recordedWorld{World: mc.world, client: rec.wrap(mc.world.Client())}
	state := rec.wrap(mc.state)
	openEnv = func(_ context.Context, _ *clusterFlags, _ *plan.Plan, _ *slog.Logger) (*runEnv, error) {
		return &runEnv{
			world: world, state: state, contextName: "model-test", clock: mc.clock, holder: "rbac",
			live: func(ctx context.Context) (*topology.Inventory, error) { return mc.live, nil },
		}, nil
	}

	for _, args := range [][]string{
		{"run"},
		{"run", "--apply", "--without-rehearsal"},
		{"status"},
		{"rollback", "--phase", "4"},
		{"rollback", "--phase", "4", "--apply"},
	} {
		if _, stderr, err := runCLIErr(t, append(args, runArgs(planFile)...)...); err != nil {
			t.Fatalf("certwave %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
	}
	exerciseClusterOnlyPaths(t, rec)

	cluster, namespaced := loadRBAC(t, "../../deploy/rbac/certwave-run.yaml")
	var missing []string
	for r := range rec.requests {
		if !allows(cluster, r) && !allows(namespaced[r.namespace], r) {
			missing = append(missing, r.String())
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("deploy/rbac/certwave-run.yaml does not allow %d requests certwave sends:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if testing.Verbose() {
		for r := range rec.requests {
			t.Log(r)
		}
	}
	if len(rec.requests) < 20 {
		t.Errorf("only %d distinct requests recorded; the recorder misses the engine's requests", len(rec.requests))
	}
}

// exerciseClusterOnlyPaths sends the requests only the real cluster's
// environment makes (the live inventory, ACME Orders, the private CA's
// CertificateRequests, metadata-only Secrets, the test-stack check)
// through a recorded fake client.
func exerciseClusterOnlyPaths(t *testing.T, rec *requestRecorder) {
	t.Helper()
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "example-com-tls"}, Data: map[string][]byte{"tls.key": []byte("not for certwave")}}
	// A cert-manager Deployment makes LoadCluster read the ConfigMaps of
	// its namespace, as it does on a cluster installed by the Helm chart.
	controllerLabels := map[string]string{"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "cert-manager", Name: "cert-manager", Labels: controllerLabels},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "cert-manager-controller", Image: "quay.io/jetstack/cert-manager-controller:v1.21.2"},
		}}}},
	}
	base := fake.NewClientBuilder().WithScheme(runScheme()).WithObjects(secret, deployment).Build()
	c := secretMetadataOnly(rec.wrap(base))

	if _, err := topology.LoadCluster(ctx, c, "rbac"); err != nil {
		t.Fatalf("LoadCluster: %v", err)
	}
	if _, err := (&kubecluster.OrderObserver{Client: c}).ACMEEvents(ctx, time.Time{}); err != nil {
		t.Fatalf("ACMEEvents: %v", err)
	}
	if _, err := kubecluster.PrivateCARoots(ctx, c, "cert-manager"); err != nil {
		t.Fatalf("PrivateCARoots: %v", err)
	}
	got := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(secret), got); err != nil {
		t.Fatalf("get Secret: %v", err)
	}
	if len(got.Data) != 0 {
		t.Errorf("the metadata-only client returned Secret data: %v", got.Data)
	}
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"a":null}}}`))
	if err := c.Patch(ctx, got, patch); err != nil {
		t.Fatalf("patch Secret metadata: %v", err)
	}
	if len(got.Data) != 0 {
		t.Errorf("the metadata-only patch returned Secret data")
	}
	_ = checkTestStack(ctx, c, "rbac", 10)
}
