package plan

import (
	"fmt"
	"strings"
)

// clusterSourcePrefix starts the Source of an inventory read from a live
// cluster; the context name follows it.
const clusterSourcePrefix = "cluster:"

// KubeContext returns the kubeconfig context the plan was made for:
// Context, or for a plan written before that field existed, the context in
// a Source of the form cluster:<context>. It is empty for plans made from
// a GitOps tree or the reference topology.
func (p *Plan) KubeContext() string {
	if p.Context != "" {
		return p.Context
	}
	if name, ok := strings.CutPrefix(p.Source, clusterSourcePrefix); ok {
		return name
	}
	return ""
}

// CheckContext returns an error when running the plan against the kube
// context current could reach another cluster than the one it was made
// for. named is true when the operator named current with --context, which
// accepts a context other than the recorded one, or any context for a plan
// that records none.
func CheckContext(p *Plan, current string, named bool) error {
	recorded := p.KubeContext()
	switch {
	case named:
		return nil
	case recorded == "":
		return fmt.Errorf("the plan records no kube context (it was made from %s): pass --context %s to confirm that this is the cluster to migrate", p.Source, current)
	case recorded != current:
		return fmt.Errorf("the plan was made for kube context %q, but the kubeconfig's current context is %q: pass --context %s to use the planned cluster, or --context %s to run against this one anyway", recorded, current, recorded, current)
	}
	return nil
}
