package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/plan"
)

// Names and annotations of certwave's state in the cluster.
const (
	defaultStateNamespace = "certwave-system"
	leaseName             = "certwave-run"
	annotationPlanDigest  = "certwave.io/plan-digest"
	annotationPlanFile    = "certwave.io/plan-file"
	annotationContext     = "certwave.io/context"
	annotationTimeScale   = "certwave.io/time-scale"
	// testStackLabel on Namespace kube-system marks a cluster built for
	// tests, the only kind --time-scale may run against.
	testStackLabel     = "certwave.io/test-stack"
	testStackNamespace = "kube-system"
)

// minLeaseDuration keeps Lease renewals, sent every third of the
// duration, at least a second apart.
const minLeaseDuration = 3 * time.Second

// stateFlags are the places a run keeps its progress, and the duration of
// the Lease that keeps a second run out.
type stateFlags struct {
	namespace     string
	file          string
	leaseDuration time.Duration
}

func (f *stateFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.namespace, "state-namespace", defaultStateNamespace, "namespace of the progress ConfigMap and the run Lease; it must exist")
	fl.StringVar(&f.file, "state-file", "", "local copy of the progress, a JSON file (default: .certwave/runs/<context>-<digest>.json beside the plan file)")
}

// registerLease adds --lease-duration, for the commands that take the
// Lease.
func (f *stateFlags) registerLease(fl *pflag.FlagSet) {
	fl.DurationVar(&f.leaseDuration, "lease-duration", engine.DefaultLeaseDuration, "how long the run Lease stays held after its last renewal, in whole seconds as a Go duration; a killed run keeps the next run out this long")
}

// lease returns the run Lease in the state namespace, held by env's
// holder.
func (f *stateFlags) lease(env *runEnv, log *slog.Logger) (*engine.Lease, error) {
	if err := f.checkLeaseDuration(); err != nil {
		return nil, err
	}
	return &engine.Lease{
		Client: env.state, Namespace: f.namespace, Name: leaseName, Holder: env.holder,
		Duration: f.leaseDuration, Clock: env.clock, Log: log,
	}, nil
}

func (f *stateFlags) checkLeaseDuration() error {
	if f.leaseDuration < minLeaseDuration || f.leaseDuration%time.Second != 0 {
		return fmt.Errorf("invalid --lease-duration %s: want whole seconds, at least %s", f.leaseDuration, minLeaseDuration)
	}
	return nil
}

// configMapName is the progress ConfigMap of a plan: one per plan digest.
func configMapName(digest string) string {
	return "certwave-run-" + shortDigestOf(digest)
}

func shortDigestOf(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// stateFile returns the local progress file of a plan on a context.
func (f *stateFlags) stateFile(planFile, contextName, digest string) string {
	if f.file != "" {
		return f.file
	}
	name := unsafeFileChars.ReplaceAllString(contextName, "_") + "-" + shortDigestOf(digest) + ".json"
	return filepath.Join(filepath.Dir(planFile), ".certwave", "runs", name)
}

// stores returns the progress store of a run: the ConfigMap, mirrored to
// the local file. The progress records the digest of the plan file, as the
// ConfigMap's annotation and the rehearsal record do, also when the engine
// runs a copy scaled by timeScale.
func (f *stateFlags) stores(env *runEnv, planFile string, p *plan.Plan, timeScale int) (*engine.MirroredStore, *engine.ConfigMapStore, string, error) {
	digest := p.Digest()
	cm := &engine.ConfigMapStore{
		Client: env.state, Namespace: f.namespace, Name: configMapName(digest),
		Annotations: map[string]string{
			annotationPlanDigest: digest,
			annotationPlanFile:   filepath.Base(planFile),
			annotationContext:    env.contextName,
			annotationTimeScale:  strconv.Itoa(timeScale),
		},
	}
	path := f.stateFile(planFile, env.contextName, digest)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, "", fmt.Errorf("invalid --state-file %s: %w", path, err)
	}
	var primary, mirror engine.Store = cm, &engine.FileStore{Path: path}
	if timeScale != 1 {
		scaled, err := plan.Scale(p, timeScale)
		if err != nil {
			return nil, nil, "", err
		}
		primary = scaledDigestStore{Store: primary, planDigest: digest, scaledDigest: scaled.Digest()}
		mirror = scaledDigestStore{Store: mirror, planDigest: digest, scaledDigest: scaled.Digest()}
	}
	return &engine.MirroredStore{Primary: primary, Copy: mirror}, cm, path, nil
}

// scaledDigestStore saves progress under the digest of the plan file,
// while the engine, which runs a copy of the plan with its waits divided
// by --time-scale, checks progress against the digest of that copy.
// Progress saved with the copy's digest, as earlier versions did, loads
// too.
type scaledDigestStore struct {
	engine.Store
	planDigest, scaledDigest string
}

func (s scaledDigestStore) Load(ctx context.Context) (*engine.Progress, error) {
	p, err := s.Store.Load(ctx)
	if p != nil && p.PlanDigest == s.planDigest {
		p.PlanDigest = s.scaledDigest
	}
	return p, err
}

func (s scaledDigestStore) Save(ctx context.Context, p *engine.Progress) error {
	if p.PlanDigest == s.scaledDigest {
		saved := *p
		saved.PlanDigest = s.planDigest
		p = &saved
	}
	return s.Store.Save(ctx, p)
}

// interruptibleStore saves progress even after the run's context was
// cancelled by SIGINT or SIGTERM, so an interrupted step stays recorded.
// It does not once the Lease is lost, because another run may own the
// progress by then.
type interruptibleStore struct{ engine.Store }

func (s interruptibleStore) Save(ctx context.Context, p *engine.Progress) error {
	if ctx.Err() != nil && !errors.Is(context.Cause(ctx), engine.ErrLeaseLost) {
		ctx = context.WithoutCancel(ctx)
	}
	return s.Store.Save(ctx, p)
}

// recordedTimeScale returns the time scale a run of the plan saved in its
// ConfigMap, or 1 when there is none.
func recordedTimeScale(ctx context.Context, cm *engine.ConfigMapStore) (int, error) {
	annotations, err := cm.ReadAnnotations(ctx)
	if err != nil {
		return 0, err
	}
	if v, ok := annotations[annotationTimeScale]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("invalid annotation %s=%q on %s: expected a whole number of 1 or more", annotationTimeScale, v, cm.Object())
		}
		return n, nil
	}
	return 1, nil
}

// checkTestStack returns an error unless the cluster is marked as a test
// stack, as --time-scale requires.
func checkTestStack(ctx context.Context, c client.Client, contextName string, scale int) error {
	ns := &corev1.Namespace{}
	err := c.Get(ctx, client.ObjectKey{Name: testStackNamespace}, ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("checking whether context %s is a test stack (Namespace %s): %w", contextName, testStackNamespace, err)
	}
	if err == nil && ns.Labels[testStackLabel] == "true" {
		return nil
	}
	return fmt.Errorf("invalid --time-scale %d: the cluster of context %s is not marked as a test stack (label %s=true on Namespace %s), and scaled time would cut the plan's soaks short on a real cluster; leave --time-scale out",
		scale, contextName, testStackLabel, testStackNamespace)
}
