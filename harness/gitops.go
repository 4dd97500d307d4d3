package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/engine/gitops"
	"github.com/certwave/certwave/sim/model"
	"github.com/certwave/certwave/topology"
)

// fluxFieldOwner is the field manager of Flux's kustomize-controller.
const fluxFieldOwner = "kustomize-controller"

// gitopsRun is a scenario run in GitOps mode: the engine commits to a Git
// copy of the scenario's tree, and a stand-in for Flux applies the tree
// to the world after each commit is "merged".
type gitopsRun struct {
	dir  string // the Git work tree, a temporary copy
	vars map[string]string
	flux *fluxStandIn
	// merges counts the commits applied.
	merges int
}

// newGitOpsRun copies tree into a new Git repository with one commit. inv
// is the tree's inventory, as the world was built from it, and profile the
// ACME profile the world's issuers got.
func newGitOpsRun(ctx context.Context, tree string, vars map[string]string, inv *topology.Inventory, profile string) (*gitopsRun, error) {
	dir, err := os.MkdirTemp("", "certwave-gitops-")
	if err != nil {
		return nil, err
	}
	if err := os.CopyFS(dir, os.DirFS(tree)); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("copy GitOps tree %s: %w", tree, err)
	}
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=main"},
		{"add", "-A"},
		{"commit", "--quiet", "-m", "the tree before the migration"},
	} {
		if err := git(ctx, dir, args...); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	g := &gitopsRun{dir: dir, vars: vars, flux: &fluxStandIn{dir: dir, vars: vars, profile: profile, applied: map[string]client.Object{}}}
	for _, obj := range model.DesiredObjects(inv, profile) {
		g.flux.applied[objectKey(obj)] = obj
	}
	return g, nil
}

// git runs git in dir with a fixed identity, so it needs no user config.
func git(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir, "-c", "user.name=certwave test", "-c", "user.email=certwave@127.0.0.1", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=certwave test", "GIT_AUTHOR_EMAIL=certwave@127.0.0.1",
		"GIT_COMMITTER_NAME=certwave test", "GIT_COMMITTER_EMAIL=certwave@127.0.0.1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s failed: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// stager opens the work tree as it is on disk, as a restarted certwave
// would, and returns the engine's Stager for it.
func (g *gitopsRun) stager(r *run) (engine.Stager, error) {
	repo, err := gitops.Open(g.dir, gitops.Options{Vars: g.vars})
	if err != nil {
		return nil, err
	}
	return gitops.NewStager(repo, r.plan), nil
}

func (g *gitopsRun) close() { os.RemoveAll(g.dir) }

// mergeCommit waits the scenario's merge delay, then applies the work
// tree, which is on the commit's branch, as Flux would after the merge.
func (r *run) mergeCommit(ctx context.Context) error {
	if err := r.sleep(ctx, r.s.Run.GitOps.MergeAfter.D()); err != nil {
		return err
	}
	if err := r.gitops.flux.sync(ctx, r.world.Client()); err != nil {
		return err
	}
	r.gitops.merges++
	return nil
}

// fluxStandIn applies the tree to a world as Flux's kustomize-controller
// does for the objects certwave edits: it owns the fields the tree sets,
// creates the objects the tree adds and prunes the objects it removes.
//
// NOTE: it applies only issuers, Gateways, HTTPRoutes and Certificates,
// and of a Gateway only its annotations and listeners, of an HTTPRoute its
// hostnames and parentRefs: the fields the migration changes.
type fluxStandIn struct {
	dir     string
	vars    map[string]string
	profile string
	// applied are the objects last applied, by objectKey.
	applied map[string]client.Object
}

func objectKey(obj client.Object) string {
	return fmt.Sprintf("%T/%s/%s", obj, obj.GetNamespace(), obj.GetName())
}

// sync reads the tree as Flux would build it and applies it to c.
func (f *fluxStandIn) sync(ctx context.Context, c client.Client) error {
	inv, err := topology.LoadGitOps(f.dir, topology.GitOpsOptions{Vars: f.vars})
	if err != nil {
		return fmt.Errorf("flux stand-in: build the tree: %w", err)
	}
	next := map[string]client.Object{}
	for _, obj := range model.DesiredObjects(inv, f.profile) {
		next[objectKey(obj)] = obj
		if err := f.apply(ctx, c, obj, f.applied[objectKey(obj)]); err != nil {
			return fmt.Errorf("flux stand-in: apply %s: %w", objectKey(obj), err)
		}
	}
	for key, obj := range f.applied {
		if _, inTree := next[key]; inTree {
			continue
		}
		if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("flux stand-in: prune %s: %w", key, err)
		}
	}
	f.applied = next
	return nil
}

// apply creates want, or updates the live object's fields the tree sets.
// last is the object as the previous sync applied it, nil if new: an
// annotation it set and want no longer has is removed.
func (f *fluxStandIn) apply(ctx context.Context, c client.Client, want, last client.Object) error {
	live := want.DeepCopyObject().(client.Object)
	err := c.Get(ctx, client.ObjectKeyFromObject(want), live)
	if apierrors.IsNotFound(err) {
		return c.Create(ctx, want.DeepCopyObject().(client.Object), client.FieldOwner(fluxFieldOwner))
	}
	if err != nil {
		return err
	}
	before := live.DeepCopyObject()
	switch l := live.(type) {
	case *gwapiv1.Gateway:
		w := want.(*gwapiv1.Gateway)
		l.Annotations = syncAnnotations(l.Annotations, w.Annotations, last)
		l.Spec.Listeners = w.Spec.Listeners
	case *gwapiv1.HTTPRoute:
		w := want.(*gwapiv1.HTTPRoute)
		l.Spec.Hostnames, l.Spec.ParentRefs = w.Spec.Hostnames, w.Spec.ParentRefs
	case *cmapi.Certificate:
		l.Spec = want.(*cmapi.Certificate).Spec
	case *cmapi.ClusterIssuer:
		l.Spec = want.(*cmapi.ClusterIssuer).Spec
	case *cmapi.Issuer:
		l.Spec = want.(*cmapi.Issuer).Spec
	default:
		return nil
	}
	if reflect.DeepEqual(before, live) {
		return nil
	}
	return c.Update(ctx, live, client.FieldOwner(fluxFieldOwner))
}

// syncAnnotations sets want's annotations on live and removes those last
// set that want no longer has; annotations of other writers stay.
func syncAnnotations(live, want map[string]string, last client.Object) map[string]string {
	out := map[string]string{}
	for k, v := range live {
		out[k] = v
	}
	if last != nil {
		for k := range last.GetAnnotations() {
			if _, ok := want[k]; !ok {
				delete(out, k)
			}
		}
	}
	for k, v := range want {
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
