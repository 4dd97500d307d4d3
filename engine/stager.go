package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/plan"
)

// Stop rules of a GitOps run.
const (
	// RuleGitOpsMerge stops after a commit: the operator merges it, Flux or
	// Argo applies it, and the next run goes on once the cluster shows it.
	RuleGitOpsMerge = "gitops-merge"
	// RuleGitOpsNotApplied stops when the cluster does not show a commit's
	// changes within Options.ConvergeTimeout of the resume.
	RuleGitOpsNotApplied = "gitops-not-applied"
)

// defaultConvergeTimeout is how long a resumed GitOps run waits for the
// cluster to show a merged commit: Flux reconciles a Kustomization every
// interval (often 10 minutes to 1 hour) or on a webhook.
const defaultConvergeTimeout = time.Hour

// Stager is the Actuator of a GitOps run: instead of changing the cluster,
// it edits the manifests of a repository, and the cluster changes once an
// operator merges the commit and Flux or Argo applies it.
type Stager interface {
	// Stage makes the manifest edits of a step that changes objects.
	// changes are the step's changes, as they would be applied; a step
	// that creates an object needs them to write its manifest.
	Stage(ctx context.Context, step *plan.Step, changes []*Change) error
	// Commit commits what is staged and returns where the operator finds
	// it, such as a branch and a commit hash.
	Commit(ctx context.Context, c Commit) (string, error)
	// Diff returns what is staged as a unified diff.
	Diff() string
}

// Commit describes the staged steps of one commit.
type Commit struct {
	// Phase and Wave are the plan's phase and wave of the last staged
	// step; Number counts the plan's waves with hosts up to this one.
	Phase, Wave, Number int
	Steps               []*plan.Step
	// Hosts are the hosts the commit adds listeners for or moves routes
	// of. Done counts the hosts moved once it is applied, Total the plan's.
	Hosts       []string
	Done, Total int
	// ListenersOnly is set when the commit adds listeners but moves no
	// route.
	ListenersOnly bool
	// Rollback describes how to undo the commit.
	Rollback string
}

// PendingCommit is a commit waiting to be merged and applied.
type PendingCommit struct {
	Ref   string    `json:"ref"`
	Steps []string  `json:"steps"`
	At    time.Time `json:"at"`
}

// stagesChanges reports whether a step changes objects, so that a GitOps
// run stages it instead of applying it.
func stagesChanges(k plan.StepKind) bool {
	switch k {
	case plan.StepAnnotateGateway, plan.StepAddListener, plan.StepFlipRoute, plan.StepRemoveListener,
		plan.StepDeleteCert, plan.StepRemoveReflection, plan.StepCreateIssuer, plan.StepCreateCert:
		return true
	}
	return false
}

// stage hands a step that changes objects to the Stager and records it.
func (e *Engine) stage(ctx context.Context, st *runState, step *plan.Step) error {
	var changes []*Change
	if step.Kind == plan.StepCreateIssuer || step.Kind == plan.StepCreateCert {
		var err error
		if changes, err = e.stepChanges(ctx, st, step); err != nil {
			return err
		}
	}
	if err := e.opts.Stager.Stage(ctx, step, changes); err != nil {
		return fmt.Errorf("stage step %s: %w", step.ID, err)
	}
	if step.Kind == plan.StepRemoveReflection {
		// cert-manager writes the Secret, so no manifest holds its
		// reflector annotations: they are removed from the cluster now.
		if err := e.executeSecretChanges(ctx, st, step); err != nil {
			return err
		}
	}
	if !slices.Contains(st.prog.Staged, step.ID) {
		st.prog.Staged = append(st.prog.Staged, step.ID)
	}
	fmt.Fprintf(e.out, "  staged %s in the repository\n", step.ID)
	return nil
}

// executeSecretChanges makes the step's changes to Secrets through the
// cluster actuator.
func (e *Engine) executeSecretChanges(ctx context.Context, st *runState, step *plan.Step) error {
	changes, err := e.stepChanges(ctx, st, step)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		if ch.GVK.Kind != "Secret" {
			continue
		}
		if e.preview != nil {
			if err := e.preview.Execute(ctx, ch); err != nil {
				return err
			}
			continue
		}
		if err := e.executeChange(ctx, step, ch); err != nil {
			return err
		}
	}
	return nil
}

// defersToCommit reports whether a GitOps run moves a wait for Ready
// behind the commit, and records it. Once a host's listener exists, Envoy
// Gateway's listener isolation stops the wildcard listener from serving
// the host, so committing the listeners alone would leave the hosts down
// until a second commit with the route moves is merged. The wave's
// listeners and route moves are therefore committed together, and the
// wait for their Certificates runs once the cluster shows the commit.
func (e *Engine) defersToCommit(st *runState, step *plan.Step) bool {
	if step.Kind != plan.StepWaitReady {
		return false
	}
	if !slices.ContainsFunc(st.prog.Staged, func(id string) bool {
		s := e.stepByID(id)
		return s != nil && s.Kind == plan.StepAddListener
	}) {
		return false
	}
	st.prog.Staged = append(st.prog.Staged, step.ID)
	fmt.Fprintf(e.out, "  the wait for Ready runs after the commit of the wave's listeners and route moves\n")
	return true
}

// restage stages again the steps a killed run staged but did not commit:
// the Stager keeps its edits in memory until the commit.
func (e *Engine) restage(ctx context.Context, st *runState) error {
	for _, id := range st.prog.Staged {
		step := e.stepByID(id)
		if step == nil {
			return fmt.Errorf("staged step %s is not in the plan", id)
		}
		if !stagesChanges(step.Kind) {
			continue // a deferred wait, nothing to edit
		}
		if err := e.stage(ctx, st, step); err != nil {
			return err
		}
	}
	return nil
}

// syncGitOps runs before a step that reads the cluster, and at the end of
// a GitOps run. It commits what is staged and stops for the merge, or, on
// the run after the merge, waits until the cluster shows the commit and
// checks the gates of the committed steps.
func (e *Engine) syncGitOps(ctx context.Context, st *runState, step *plan.Step) error {
	if p := st.prog.Pending; p != nil {
		if err := e.awaitApplied(ctx, st, step, p); err != nil {
			return err
		}
		st.prog.Pending = nil
		return e.save(ctx, st)
	}
	if len(st.prog.Staged) == 0 {
		return nil
	}
	c := e.commitOf(st)
	ref, err := e.opts.Stager.Commit(ctx, c)
	if err != nil {
		return fmt.Errorf("commit the staged steps: %w", err)
	}
	st.prog.Pending = &PendingCommit{Ref: ref, Steps: st.prog.Staged, At: e.clock.Now()}
	st.prog.Staged = nil
	if err := e.save(ctx, st); err != nil {
		return err
	}
	stop := &Stop{
		Rule:    RuleGitOpsMerge,
		Reason:  fmt.Sprintf("committed %d steps as %s; the cluster changes once the commit is merged and applied", len(st.prog.Pending.Steps), ref),
		Objects: e.stagedObjects(st.prog.Pending.Steps),
		At:      e.clock.Now(),
		Next: fmt.Sprintf("merge %s, let Flux or Argo apply it, then %s (it waits up to %s for the cluster to show the commit)",
			ref, e.resumeCommand(), e.convergeTimeout()),
		Keys: []string{RuleGitOpsMerge + "|" + ref},
	}
	if step != nil {
		stop.Step = step.ID
	}
	return &stopSignal{stop: stop}
}

// commitOf describes the staged steps for the Stager.
func (e *Engine) commitOf(st *runState) Commit {
	c := Commit{Total: len(e.index.hosts)}
	waves := map[string]bool{}
	moved := map[string]bool{} // hosts whose routes are moved, this commit's included
	for i := range e.plan.Steps {
		s := &e.plan.Steps[i]
		if s.Kind == plan.StepAddListener {
			waves[waveKey(s)] = true
		}
		if s.Kind == plan.StepFlipRoute && st.completed[s.ID] {
			for _, h := range e.routeHosts(s.Route) {
				moved[h] = true
			}
		}
	}
	c.Done = len(moved)
	addsListeners := false
	for _, id := range st.prog.Staged {
		s := e.stepByID(id)
		if s == nil {
			continue
		}
		c.Steps = append(c.Steps, s)
		c.Phase, c.Wave = s.Phase, s.Wave
		switch s.Kind {
		case plan.StepFlipRoute:
			for _, h := range e.routeHosts(s.Route) {
				if !slices.Contains(c.Hosts, h) {
					c.Hosts = append(c.Hosts, h)
				}
			}
		case plan.StepAddListener:
			addsListeners = true
			if s.Listener != nil && !slices.Contains(c.Hosts, s.Listener.Hostname) {
				c.Hosts = append(c.Hosts, s.Listener.Hostname)
			}
		}
	}
	c.ListenersOnly = addsListeners && !slices.ContainsFunc(c.Steps, func(s *plan.Step) bool { return s.Kind == plan.StepFlipRoute })
	for i := range e.plan.Steps {
		s := &e.plan.Steps[i]
		if waves[waveKey(s)] && (s.Phase < c.Phase || (s.Phase == c.Phase && s.Wave <= c.Wave)) {
			c.Number++
			delete(waves, waveKey(s))
		}
	}
	c.Rollback = fmt.Sprintf("revert the commit; certwave rollback --plan %s --phase %d shows the cluster side", e.planFile(), c.Phase)
	return c
}

// stagedObjects names the objects the steps change.
func (e *Engine) stagedObjects(ids []string) []string {
	var out []string
	for _, id := range ids {
		s := e.stepByID(id)
		if s == nil {
			continue
		}
		obj := ""
		switch {
		case s.Route != "":
			obj = "HTTPRoute/" + s.Route
		case s.Gateway != "":
			obj = "Gateway/" + s.Gateway
		case s.Certificate != "":
			obj = "Certificate/" + s.Certificate
		case s.Issuer != nil:
			obj = "ClusterIssuer/" + s.Issuer.Name
		case s.CertificateSpec != nil:
			obj = "Certificate/" + s.CertificateSpec.Namespace + "/" + s.CertificateSpec.Name
		}
		if obj != "" && !slices.Contains(out, obj) {
			out = append(out, obj)
		}
	}
	return out
}

func (e *Engine) convergeTimeout() time.Duration {
	if e.opts.ConvergeTimeout > 0 {
		return e.opts.ConvergeTimeout
	}
	return defaultConvergeTimeout
}

// awaitApplied waits until the cluster shows every step of the pending
// commit, watching the edited kinds where the world can watch, then runs
// the route gates of its route moves, which could not run before the
// merge.
func (e *Engine) awaitApplied(ctx context.Context, st *runState, step *plan.Step, p *PendingCommit) error {
	var missing []string
	deadline := e.clock.Now().Add(e.convergeTimeout())
	ok, err := e.waitChanges(ctx, st, deadline, func(ctx context.Context) (bool, error) {
		missing = missing[:0]
		for _, id := range p.Steps {
			s := e.stepByID(id)
			if s == nil {
				continue
			}
			applied, detail, err := e.stepApplied(ctx, s)
			if err != nil {
				return false, err
			}
			if !applied {
				missing = append(missing, id+": "+detail)
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		return err
	}
	if !ok {
		stop := &Stop{
			Rule: RuleGitOpsNotApplied,
			Reason: fmt.Sprintf("the cluster does not show %d of the %d steps of %s after %s: %s",
				len(missing), len(p.Steps), p.Ref, e.convergeTimeout(), strings.Join(missing, "; ")),
			Objects: e.stagedObjects(p.Steps),
			At:      e.clock.Now(),
			Next:    fmt.Sprintf("check that %s is merged and that Flux or Argo applied it (flux get kustomizations), then %s", p.Ref, e.resumeCommand()),
		}
		if step != nil {
			stop.Step = step.ID
		}
		return &stopSignal{stop: stop}
	}
	fmt.Fprintf(e.out, "  the cluster shows %s\n", p.Ref)
	// The deferred waits for Ready first, then the route gates.
	for _, kind := range []plan.StepKind{plan.StepWaitReady, plan.StepFlipRoute} {
		for _, id := range p.Steps {
			s := e.stepByID(id)
			if s == nil || s.Kind != kind {
				continue
			}
			var err error
			if kind == plan.StepWaitReady {
				certs, hosts := e.waitTargets(st, s)
				err = e.waitReady(ctx, st, s, certs, hosts)
			} else {
				err = e.routeGate(ctx, st, s)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// stepApplied reports whether the cluster shows the change a staged step
// made in the repository, and if not, what is missing.
func (e *Engine) stepApplied(ctx context.Context, s *plan.Step) (bool, string, error) {
	switch s.Kind {
	case plan.StepAnnotateGateway, plan.StepAddListener, plan.StepRemoveListener:
		gw, err := getObject[gwv1.Gateway](ctx, e.client, s.Gateway)
		if err != nil || gw == nil {
			return false, "Gateway " + s.Gateway + " not found", err
		}
		switch s.Kind {
		case plan.StepAnnotateGateway:
			for k, v := range s.Annotations {
				if gw.Annotations[k] != v {
					return false, fmt.Sprintf("Gateway %s lacks annotation %s=%s", s.Gateway, k, v), nil
				}
			}
		case plan.StepAddListener:
			if s.Listener != nil && !hasListener(gw, s.Listener.Name) {
				return false, fmt.Sprintf("Gateway %s has no listener %s", s.Gateway, s.Listener.Name), nil
			}
		case plan.StepRemoveListener:
			if s.Listener != nil && hasListener(gw, s.Listener.Name) {
				return false, fmt.Sprintf("Gateway %s still has listener %s", s.Gateway, s.Listener.Name), nil
			}
		}
	case plan.StepFlipRoute:
		route, err := getObject[gwv1.HTTPRoute](ctx, e.client, s.Route)
		if err != nil || route == nil {
			return false, "HTTPRoute " + s.Route + " not found", err
		}
		if !slices.ContainsFunc(route.Spec.ParentRefs, func(r gwv1.ParentReference) bool {
			return r.SectionName != nil && string(*r.SectionName) == s.SectionName
		}) {
			return false, fmt.Sprintf("HTTPRoute %s has no parentRef with sectionName %s", s.Route, s.SectionName), nil
		}
	case plan.StepDeleteCert:
		crt, err := getObject[cmv1.Certificate](ctx, e.client, s.Certificate)
		if err != nil {
			return false, "", err
		}
		if crt != nil {
			return false, "Certificate " + s.Certificate + " still exists", nil
		}
	case plan.StepRemoveReflection:
		crt, err := getObject[cmv1.Certificate](ctx, e.client, s.Certificate)
		if err != nil {
			return false, "", err
		}
		if crt == nil {
			return true, "", nil // deleted with its reflection
		}
		if t := crt.Spec.SecretTemplate; t != nil {
			for _, k := range reflectionAnnotations {
				if _, ok := t.Annotations[k]; ok {
					return false, fmt.Sprintf("Certificate %s still reflects its Secret (%s)", s.Certificate, k), nil
				}
			}
		}
	case plan.StepCreateCert:
		if cs := s.CertificateSpec; cs != nil {
			crt, err := getObject[cmv1.Certificate](ctx, e.client, cs.Namespace+"/"+cs.Name)
			if err != nil || crt == nil {
				return false, "Certificate " + cs.Namespace + "/" + cs.Name + " not found", err
			}
		}
	case plan.StepCreateIssuer:
		if s.Issuer != nil {
			var ci cmv1.ClusterIssuer
			if err := e.client.Get(ctx, client.ObjectKey{Name: s.Issuer.Name}, &ci); err != nil {
				if apierrors.IsNotFound(err) {
					return false, "ClusterIssuer " + s.Issuer.Name + " not found", nil
				}
				return false, "", err
			}
		}
	}
	return true, "", nil
}

// stepByID returns the plan's step with id, or nil.
func (e *Engine) stepByID(id string) *plan.Step {
	for i := range e.plan.Steps {
		if e.plan.Steps[i].ID == id {
			return &e.plan.Steps[i]
		}
	}
	return nil
}

// routeHosts returns the plan's hosts served by route (namespace/name).
func (e *Engine) routeHosts(route string) []string {
	var out []string
	for _, c := range e.plan.Cohorts {
		for _, h := range c.Hosts {
			if slices.Contains(h.Routes, route) {
				out = append(out, h.Hostname)
			}
		}
	}
	return out
}

func hasListener(gw *gwv1.Gateway, name string) bool {
	return slices.ContainsFunc(gw.Spec.Listeners, func(l gwv1.Listener) bool { return string(l.Name) == name })
}

// getObject reads namespace/name into a new T, or returns nil when it does
// not exist.
func getObject[T any, PT interface {
	*T
	client.Object
}](ctx context.Context, c client.Client, key string) (*T, error) {
	ns, name, _ := strings.Cut(key, "/")
	obj := PT(new(T))
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return (*T)(obj), nil
}
