package gitops

import (
	"fmt"

	"github.com/certwave/certwave/plan"
)

// ApplyStep makes the manifest edits of one plan step. Steps that only
// wait or observe (preflight, wait-ready, probe, soak, observe-renewal,
// shim-test) change no manifest and return nil.
//
// It maps plan steps rather than engine.Change values, because a Change
// does not carry what a manifest edit needs. The engine builds route and
// wildcard-listener changes from live objects read through its Kubernetes
// client. A Gateway change is the whole set of listeners certwave owns, as
// an opaque apply configuration. A route defined in HelmRelease values has
// no HTTPRoute manifest to patch.
func (r *Repo) ApplyStep(step plan.Step) error {
	switch step.Kind {
	case plan.StepAnnotateGateway:
		return r.AnnotateGateway(step.Gateway, step.Annotations)
	case plan.StepAddListener:
		if step.Listener == nil {
			return fmt.Errorf("invalid plan: step %s names no listener", step.ID)
		}
		return r.AddListener(step.Gateway, *step.Listener)
	case plan.StepFlipRoute:
		// NOTE: when FromSection is empty and an earlier step already moved
		// the route, the engine adds a second parentRef. Here an empty
		// FromSection only matches a parentRef without sectionName.
		return r.FlipRoute(step.Route, step.Gateway, step.FromSection, step.SectionName)
	case plan.StepRemoveListener:
		if step.Listener == nil {
			return fmt.Errorf("invalid plan: step %s names no listener", step.ID)
		}
		return r.RemoveListener(step.Gateway, step.Listener.Name)
	case plan.StepDeleteCert:
		if step.Certificate == "" {
			return fmt.Errorf("invalid plan: step %s names no Certificate", step.ID)
		}
		return r.RemoveCertificate(step.Certificate)
	case plan.StepRemoveReflection:
		if step.Certificate == "" {
			return fmt.Errorf("invalid plan: step %s names no Certificate", step.ID)
		}
		return r.RemoveReflection(step.Certificate)
	case plan.StepCreateIssuer, plan.StepCreateCert:
		return fmt.Errorf("step %s (%s) needs a new manifest file, which the GitOps writer does not create; add it to the repository by hand", step.ID, step.Kind)
	case plan.StepPreflight, plan.StepWaitReady, plan.StepProbe, plan.StepSoak, plan.StepObserveRenewal, plan.StepShimTest:
		return nil
	}
	return fmt.Errorf("invalid plan: step %s has unknown kind %q", step.ID, step.Kind)
}
