package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/plan"
)

// Stager is the engine's Stager for a GitOps tree: it turns plan steps into
// manifest edits and commits them, one branch per commit.
type Stager struct {
	repo *Repo
	// acmeIssuer is the name of the plan's ACME ClusterIssuer, whose
	// folder receives the manifests of new issuers and Certificates.
	acmeIssuer string
}

var _ engine.Stager = (*Stager)(nil)

// NewStager returns a Stager editing repo for plan p.
func NewStager(repo *Repo, p *plan.Plan) *Stager {
	_, name, _ := strings.Cut(p.Options.ACMEIssuer, "/")
	if p.Inventory != nil {
		repo.UseRouteOrigins(p.Inventory.Routes)
	}
	return &Stager{repo: repo, acmeIssuer: name}
}

// Stage implements engine.Stager. A step that creates an object writes
// the object's manifest, as the change would apply it, to a new file
// beside the manifest of the step's Gateway, or else of the ACME
// ClusterIssuer.
func (s *Stager) Stage(_ context.Context, step *plan.Step, changes []*engine.Change) error {
	if step.Kind != plan.StepCreateIssuer && step.Kind != plan.StepCreateCert {
		return s.repo.ApplyStep(*step)
	}
	for _, ch := range changes {
		if ch.Op != engine.OpApply || ch.Config == nil {
			continue
		}
		doc, err := manifestYAML(ch)
		if err != nil {
			return err
		}
		name := "certwave-" + strings.ToLower(ch.GVK.Kind) + "-" + ch.Name + ".yaml"
		nearKind, near := "ClusterIssuer", s.acmeIssuer
		if ch.Namespace != "" && step.Gateway != "" {
			nearKind, near = "Gateway", step.Gateway
		}
		if err := s.repo.AddManifest(nearKind, near, ch.Namespace, name, doc); err != nil {
			return err
		}
	}
	return nil
}

// manifestYAML renders a change's apply configuration as a manifest.
func manifestYAML(ch *engine.Change) (string, error) {
	data, err := json.Marshal(ch.Config)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", ch.Object(), err)
	}
	out, err := yaml.JSONToYAML(data)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", ch.Object(), err)
	}
	return "---\n# Written by certwave for step " + ch.Step + ".\n" + string(out), nil
}

// Commit implements engine.Stager: it commits the staged edits on a new
// branch certwave/<first step ID> and returns "branch B, commit H".
func (s *Stager) Commit(ctx context.Context, c engine.Commit) (string, error) {
	w := Wave{Number: c.Number, Phase: c.Phase, Done: c.Done, Total: c.Total, Hosts: c.Hosts, Rollback: c.Rollback, ListenersOnly: c.ListenersOnly}
	for _, step := range c.Steps {
		w.Steps = append(w.Steps, step.ID)
	}
	if len(w.Steps) == 0 {
		return "", fmt.Errorf("commit: no staged steps")
	}
	// Each step is staged once, so its first step names the branch
	// uniquely.
	w.Branch = "certwave/" + w.Steps[0]
	hash, err := s.repo.CommitWave(ctx, w)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("branch %s, commit %s", w.Branch, shortHash(hash)), nil
}

// Diff implements engine.Stager.
func (s *Stager) Diff() string { return s.repo.Diff() }

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
