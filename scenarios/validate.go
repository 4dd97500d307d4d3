package scenarios

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Accepted values of the enumerated fields.
var (
	faultKinds  = []string{"dns01-fail", "rate-limit", "delay-issuance", "acme-5xx"}
	actionKinds = []string{"annotate-gateway", "delete-secret", "create-certificate"}
	variants    = []string{"", "hybrid", "all-acme"}
	profiles    = []string{"", "classic", "tlsserver", "shortlived"}
	cmVersions  = []string{"", "v1.17", "v1.21"}
	egVersions  = []string{"", "1.8", "1.9"}
	clientKinds = []string{"direct", "fixed-sni"}
	stopRules   = []string{"", "none", "failed-certificate", "too-many-pending", "rate-limited", "repeated-retries", "ambiguous-shim-test", "preflight-blocker", "gate-failed", "budget-reserve"}
	untilValues = []string{"", "phase0", "phase1", "phase2", "phase3", "phase4"}
	knownNeeds  = []string{"compressed-backoff", "compressed-dns01", "short-renew-before", "gateway-data-plane"}
)

// fieldError is one validation failure at a line of the file.
type fieldError struct {
	line  int
	field string
	msg   string
}

func (e fieldError) String() string {
	return fmt.Sprintf("%d: field %s: %s", e.line, e.field, e.msg)
}

// validator collects the errors of one scenario, finding the line of each
// field in the parsed document.
type validator struct {
	root *yaml.Node
	errs []string
}

func (v *validator) fail(path, msg string) {
	v.errs = append(v.errs, fieldError{line: lineOf(v.root, path), field: path, msg: msg}.String())
}

func (v *validator) oneOf(path, value string, allowed []string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	var shown []string
	for _, a := range allowed {
		if a != "" {
			shown = append(shown, a)
		}
	}
	v.fail(path, fmt.Sprintf("invalid value %q: use one of %s", value, strings.Join(shown, ", ")))
}

func validate(s *Scenario, root *yaml.Node) []string {
	v := &validator{root: root}
	if !nameRE.MatchString(s.Name) {
		v.fail("name", fmt.Sprintf("invalid name %q: use lower-case letters, digits and dashes", s.Name))
	}
	if s.Description == "" {
		v.fail("description", "missing: say what the scenario rehearses")
	}

	n := 0
	if s.Topology.Reference {
		n++
	}
	if s.Topology.GitOps != nil {
		n++
		if s.Topology.GitOps.Dir == "" {
			v.fail("topology.gitops.dir", "missing directory")
		}
	}
	if s.Topology.Inline != nil {
		n++
	}
	if n != 1 {
		v.fail("topology", "choose exactly one of reference: true, gitops or inline")
	}
	for i, cp := range s.Topology.ClientPaths {
		p := fmt.Sprintf("topology.clientPaths[%d]", i)
		v.oneOf(p+".kind", cp.Kind, clientKinds)
		if cp.Kind == "fixed-sni" && cp.ServerName == "" {
			v.fail(p+".serverName", "missing: a fixed-sni client path sends one server name")
		}
		if cp.Name == "" {
			v.fail(p+".name", "missing")
		}
	}

	v.oneOf("world.certManagerVersion", s.World.CertManagerVersion, cmVersions)
	v.oneOf("world.envoyGatewayVersion", s.World.EnvoyGatewayVersion, egVersions)
	v.oneOf("world.profile", s.World.Profile, profiles)
	v.oneOf("plan.variant", s.Plan.Variant, variants)
	v.oneOf("plan.profile", s.Plan.Profile, profiles)
	if s.Plan.WaveSize < 0 {
		v.fail("plan.waveSize", "must not be negative")
	}
	for i, gw := range s.Plan.InternalGateways {
		if strings.Count(gw, "/") != 1 {
			v.fail(fmt.Sprintf("plan.internalGateways[%d]", i), fmt.Sprintf("invalid %q: want namespace/name", gw))
		}
	}

	for i, f := range s.Faults {
		p := fmt.Sprintf("faults[%d]", i)
		v.oneOf(p+".kind", f.Kind, faultKinds)
		if f.Until != 0 && f.Until < f.From {
			v.fail(p+".until", "is before from")
		}
		if f.Kind == "delay-issuance" && f.Delay == 0 {
			v.fail(p+".delay", "missing: delay-issuance needs a delay")
		}
	}
	for i, a := range s.Actions {
		p := fmt.Sprintf("actions[%d]", i)
		v.oneOf(p+".kind", a.Kind, actionKinds)
		if a.Kind == "annotate-gateway" && strings.Count(a.Gateway, "/") != 1 {
			v.fail(p+".gateway", fmt.Sprintf("invalid %q: want namespace/name", a.Gateway))
		}
		if a.Kind == "create-certificate" {
			if strings.Count(a.Certificate, "/") != 1 {
				v.fail(p+".certificate", fmt.Sprintf("invalid %q: want namespace/name", a.Certificate))
			}
			if len(a.DNSNames) == 0 || a.Issuer == "" {
				v.fail(p, "create-certificate needs dnsNames and issuer")
			}
			if a.Count < 0 || a.Count > 1000 {
				v.fail(p+".count", fmt.Sprintf("invalid count %d: want 1 to 1000, or leave it out for one Certificate", a.Count))
			}
			if a.Count > 1 && !slices.ContainsFunc(a.DNSNames, func(n string) bool { return strings.Contains(n, "{i}") }) {
				v.fail(p+".dnsNames", fmt.Sprintf("count %d needs {i} in a DNS name so that each Certificate gets its own names", a.Count))
			}
		}
		if a.Kind == "delete-secret" && strings.Count(a.Secret, "/") != 1 {
			v.fail(p+".secret", fmt.Sprintf("invalid %q: want namespace/name", a.Secret))
		}
	}

	v.oneOf("run.until", s.Run.Until, untilValues)
	if g := s.Run.GitOps; g != nil {
		if s.Topology.GitOps == nil {
			v.fail("run.gitops", "a GitOps run needs topology.gitops: the tree the engine commits to")
		}
		if g.MergeAfter.D() < 0 {
			v.fail("run.gitops.mergeAfter", fmt.Sprintf("invalid %s: want a duration of 0 or more", g.MergeAfter.D()))
		}
	}
	if s.Run.Rollback < 0 || s.Run.Rollback > 4 {
		v.fail("run.rollback", fmt.Sprintf("invalid phase %d: use 1 to 4", s.Run.Rollback))
	}
	if s.Run.KillEvery < 0 {
		v.fail("run.killEvery", "must not be negative")
	}
	for i, need := range s.Needs {
		v.oneOf(fmt.Sprintf("needs[%d]", i), need, knownNeeds)
	}

	v.oneOf("expect.stop", s.Expect.Stop, stopRules)
	for i, rule := range s.Expect.Stops {
		v.oneOf(fmt.Sprintf("expect.stops[%d]", i), rule, stopRules[2:])
	}
	if s.Run.MaxResumes < 0 {
		v.fail("run.maxResumes", "must not be negative")
	}
	if s.Expect.MinAvailability != nil && (*s.Expect.MinAvailability < 0 || *s.Expect.MinAvailability > 1) {
		v.fail("expect.minAvailability", "must be between 0 and 1")
	}
	for i, u := range s.Expect.Unreachable {
		if !strings.Contains(u, "@") {
			v.fail(fmt.Sprintf("expect.unreachable[%d]", i), fmt.Sprintf("invalid %q: want host@client-path", u))
		}
	}
	for i, r := range s.Expect.Renewals {
		p := fmt.Sprintf("expect.renewals[%d]", i)
		if strings.Count(r.Certificate, "/") != 1 {
			v.fail(p+".certificate", fmt.Sprintf("invalid %q: want namespace/name", r.Certificate))
		}
		if r.FirstAfter == 0 && r.Every == 0 {
			v.fail(p, "set firstAfter or every")
		}
	}
	if !s.hasExpectation() {
		v.fail("expect", "missing: a scenario must judge at least one outcome")
	}
	return v.errs
}

func (s *Scenario) hasExpectation() bool {
	e := s.Expect
	return e.PlanRefused != "" || e.LockedOut != nil || len(e.Findings) > 0 || len(e.NoFindings) > 0 ||
		e.Stop != "" || len(e.Stops) > 0 || e.MaxACMEOrders != nil || e.MinACMEOrders != nil || e.MinAvailability != nil ||
		len(e.Unavailable) > 0 || len(e.Unreachable) > 0 || e.EndState != nil || len(e.Trace) > 0 ||
		len(e.NoTrace) > 0 || len(e.Renewals) > 0 || e.RollbackOrders != nil || e.CTExposed != nil ||
		e.MaxDays != nil || e.MinDays != nil || e.Completed || e.SecretsKept
}

// lineOf returns the line of a dotted field path such as faults[2].kind in
// the document, or of the deepest part of it that exists.
func lineOf(root *yaml.Node, path string) int {
	node := root
	line := root.Line
	for _, part := range strings.Split(path, ".") {
		key, index := part, -1
		if i := strings.Index(part, "["); i >= 0 && strings.HasSuffix(part, "]") {
			key = part[:i]
			index, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		next := mappingValue(node, key)
		if next == nil {
			return line
		}
		node, line = next, next.Line
		if index >= 0 {
			if node.Kind != yaml.SequenceNode || index >= len(node.Content) {
				return line
			}
			node, line = node.Content[index], node.Content[index].Line
		}
	}
	return line
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
