package engine

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/certwave/certwave/plan"
)

// previewActuator is the dry run's Actuator: it prints each change as a
// diff of the object's YAML and changes nothing. It keeps the predicted
// objects, so a later change to the same object is shown against the
// result of the earlier ones.
type previewActuator struct {
	client    client.Client
	out       io.Writer
	predicted map[string]map[string]any
}

var _ Actuator = (*previewActuator)(nil)

func newPreviewActuator(c client.Client, out io.Writer) *previewActuator {
	return &previewActuator{client: c, out: out, predicted: map[string]map[string]any{}}
}

// Execute implements Actuator.
func (p *previewActuator) Execute(ctx context.Context, c *Change) error {
	key := previewKey(c.GVK, c.Namespace, c.Name)
	before, seen := p.predicted[key]
	if !seen {
		live, err := readObject(ctx, p.client, c.GVK, c.Namespace, c.Name)
		if err != nil {
			return err
		}
		before = live
	}

	if before == nil && c.MustExist {
		return fmt.Errorf("%s %s: not found", c.Op, c.Object())
	}
	after, err := c.Expect(copyMap(before))
	if err != nil {
		return fmt.Errorf("preview %s: %w", c.Object(), err)
	}
	p.predicted[key] = after

	fromLines, err := yamlLines(before)
	if err != nil {
		return err
	}
	toLines, err := yamlLines(after)
	if err != nil {
		return err
	}

	fmt.Fprintf(p.out, "# %s: %s %s: %s\n", c.Step, c.Op, c.Object(), c.Summary)
	if c.ForceOwnership {
		fmt.Fprintf(p.out, "# (takes ownership of the fields from their current manager)\n")
	}
	diff := unifiedDiff(c.Object()+" (live)", c.Object()+" (after)", fromLines, toLines)
	if diff == "" {
		diff = "# no difference: the object already looks like this\n"
	}
	fmt.Fprint(p.out, diff)
	return nil
}

func yamlLines(obj map[string]any) ([]string, error) {
	if obj == nil {
		return nil, nil
	}
	data, err := yaml.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode object as YAML: %w", err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), nil
}

// read returns an object as readObject does, or, in a dry run, as the
// changes previewed so far left it.
func (e *Engine) read(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (map[string]any, error) {
	if e.preview != nil {
		if obj, ok := e.preview.predicted[previewKey(gvk, namespace, name)]; ok {
			return copyMap(obj), nil
		}
	}
	return readObject(ctx, e.client, gvk, namespace, name)
}

func previewKey(gvk schema.GroupVersionKind, namespace, name string) string {
	return gvk.String() + "|" + namespace + "/" + name
}

// dryRun previews the steps Run would run: each change as a diff, each
// gate as one line, then the ACME orders they would spend. It saves no
// progress.
func (e *Engine) dryRun(ctx context.Context, st *runState) (Result, error) {
	preview := newPreviewActuator(e.client, e.out)
	e.preview = preview
	defer func() { e.preview = nil }()
	var ran []*plan.Step
	for _, step := range e.stepsToRun(st) {
		header := fmt.Sprintf("## step %s (%s", step.ID, step.Kind)
		if !step.At.IsZero() {
			header += ", not before " + step.At.UTC().Format(time.RFC3339)
		}
		header += ")"
		if step.Description != "" {
			header += " " + step.Description
		}
		fmt.Fprintln(e.out, header)
		if e.opts.Stager != nil && stagesChanges(step.Kind) {
			if err := e.stage(ctx, st, step); err != nil {
				return e.result(st, nil), fmt.Errorf("preview step %s: %w", step.ID, err)
			}
			st.completed[step.ID] = true
			ran = append(ran, step)
			continue
		}
		changes, err := e.stepChanges(ctx, st, step)
		if err != nil {
			return e.result(st, nil), fmt.Errorf("preview step %s: %w", step.ID, err)
		}
		if step.Kind == plan.StepObserveRenewal {
			changes = append(changes, e.previewRenewal(ctx, step)...)
		}
		for _, ch := range changes {
			if err := preview.Execute(ctx, ch); err != nil {
				return e.result(st, nil), fmt.Errorf("preview step %s: %w", step.ID, err)
			}
		}
		if gate := e.describeGate(step); gate != "" {
			fmt.Fprintf(e.out, "# gate: %s\n", gate)
		}
		// Later steps derive certwave's listeners from the steps before
		// them, so the preview counts this one as done, in memory only.
		st.completed[step.ID] = true
		ran = append(ran, step)
	}
	if e.opts.Stager != nil {
		diff := e.opts.Stager.Diff()
		if diff == "" {
			diff = "# no manifest edits\n"
		}
		fmt.Fprintf(e.out, "## manifest edits a GitOps run would commit\n%s", diff)
	}
	e.printBudget(ran)
	return e.result(st, nil), nil
}

// previewRenewal returns the renewal trigger of an observe-renewal step,
// or prints why it cannot be shown: the Certificate usually does not exist
// before the run creates it.
func (e *Engine) previewRenewal(ctx context.Context, step *plan.Step) []*Change {
	key := e.stepCertificate(step)
	rev, err := e.certificateRevision(ctx, key)
	if err != nil {
		fmt.Fprintf(e.out, "# renewal trigger not shown: %v\n", err)
		return nil
	}
	ch, err := e.renewalChange(ctx, step.ID, key, rev)
	if err != nil {
		fmt.Fprintf(e.out, "# renewal trigger not shown: %v\n", err)
		return nil
	}
	if ch == nil {
		return nil
	}
	return []*Change{ch}
}

// describeGate returns one line describing what a step would wait for.
func (e *Engine) describeGate(step *plan.Step) string {
	switch step.Kind {
	case plan.StepPreflight:
		return "no blocker findings, no breach, Gateway and Certificate kinds served"
	case plan.StepCreateIssuer:
		if step.Issuer == nil {
			return fmt.Sprintf("CA Certificate %s/%s Ready within %s", e.index.ca.Namespace, e.index.ca.Issuer, e.readyTimeout(step))
		}
	case plan.StepFlipRoute:
		return fmt.Sprintf("HTTPRoute %s Accepted on %s/%s within %s", step.Route, step.Gateway, step.SectionName, e.readyTimeout(step))
	case plan.StepWaitReady:
		targets := slices.Clone(step.Hosts)
		if step.Certificate != "" {
			targets = append(targets, "Certificate "+step.Certificate)
		}
		return fmt.Sprintf("Certificates Ready with their Secrets, and listeners Programmed, for %s within %s", strings.Join(targets, ", "), e.readyTimeout(step))
	case plan.StepProbe:
		return fmt.Sprintf("TLS probes of %s pass on every client path within %s", strings.Join(step.Hosts, ", "), e.readyTimeout(step))
	case plan.StepSoak:
		return fmt.Sprintf("soak %s, probing every %s", step.Duration, e.opts.PollInterval)
	case plan.StepObserveRenewal:
		return fmt.Sprintf("trigger a renewal of Certificate %s and see it issued again within %s", e.stepCertificate(step), step.Duration)
	case plan.StepShimTest:
		return fmt.Sprintf("a Certificate for a planned Secret or a BadConfig event on %s within %s", step.Gateway, e.readyTimeout(step))
	}
	return ""
}

// printBudget prints the ACME orders the steps would cause, from the plan's
// planned orders, and the plan's projected budget on the days they run.
func (e *Engine) printBudget(steps []*plan.Step) {
	ids := map[string]bool{}
	var first, last time.Time
	for _, s := range steps {
		ids[s.ID] = true
		if first.IsZero() || s.At.Before(first) {
			first = s.At
		}
		if s.At.After(last) {
			last = s.At
		}
	}
	newOrders, renewals := 0, 0
	for _, o := range e.plan.Orders {
		if !ids[o.Step] {
			continue
		}
		if o.Renewal {
			renewals++
		} else {
			newOrders++
		}
	}
	if len(e.plan.Orders) == 0 {
		// A plan without planned orders: count one order per listener or
		// Certificate an ACME issuer serves.
		for _, s := range steps {
			if h := e.index.hosts[listenerHost(s)]; s.Kind == plan.StepAddListener && h != nil && !h.Private {
				newOrders++
			}
			if s.Kind == plan.StepCreateCert && s.CertificateSpec != nil && s.CertificateSpec.IssuerRef == e.plan.Options.ACMEIssuer {
				newOrders++
			}
		}
	}
	fmt.Fprintf(e.out, "## budget: these %d steps would place %d new ACME orders and %d renewal orders\n", len(steps), newOrders, renewals)
	if len(steps) == 0 {
		return
	}
	firstDay := first.UTC().Truncate(24 * time.Hour)
	for _, day := range e.plan.Budget {
		if day.Date.Before(firstDay) || day.Date.After(last) {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(day.Remaining)) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, day.Remaining[k]))
		}
		fmt.Fprintf(e.out, "#   %s: %d orders, remaining %s, reserve %d\n", day.Date.UTC().Format("2006-01-02"), day.Orders, strings.Join(parts, " "), day.Reserve)
	}
}

func listenerHost(s *plan.Step) string {
	if s.Listener == nil {
		return ""
	}
	return s.Listener.Hostname
}
