package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Stop rule IDs. The first five are the runbook's "stop and ask" rules;
// gate-failed covers a gate (listener, route, TLS probe, renewal) that did
// not pass in its time. RuleBudgetReserve (budget.go) stops before a wave
// the rate-limit buckets do not allow.
const (
	RuleFailedCertificate = "failed-certificate"
	RuleTooManyPending    = "too-many-pending"
	RuleRateLimited       = "rate-limited"
	RuleRepeatedRetries   = "repeated-retries"
	RuleAmbiguousShimTest = "ambiguous-shim-test"
	RuleGateFailed        = "gate-failed"
	// RulePreflightBlocker stops before any change when the plan has a
	// blocker finding the operator has not accepted.
	RulePreflightBlocker = "preflight-blocker"
)

// Thresholds of the stop rules.
const (
	// failedCertificateGrace is how long a wave may run before a failed
	// Certificate stops it.
	failedCertificateGrace = 5 * time.Minute
	// maxStuckCertificates is the number of Certificates, cluster-wide,
	// that may be pending or failing before the run stops.
	maxStuckCertificates = 3
	// retryWindow and maxRetriedWaves: more than maxRetriedWaves waves that
	// needed retries within retryWindow stop the run.
	retryWindow     = 7 * 24 * time.Hour
	maxRetriedWaves = 1
)

// Stop is the record of a run that stopped to ask the operator. Stopping
// never deletes a Certificate or a Secret.
type Stop struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
	// Objects are the objects involved, as Kind/namespace/name.
	Objects []string  `json:"objects"`
	At      time.Time `json:"at"`
	// Next is the suggested next command.
	Next string `json:"next"`
	// Step is the step that was running.
	Step string `json:"step,omitempty"`
	// Keys identify the observations behind the stop (rule, object and
	// state); a resumed run does not stop again for the same keys.
	Keys []string `json:"keys,omitempty"`
}

func (s *Stop) String() string {
	return fmt.Sprintf("stopped by rule %s: %s (%s)", s.Rule, s.Reason, strings.Join(s.Objects, ", "))
}

// stopSignal carries a Stop up from a gate to Run as an error.
type stopSignal struct{ stop *Stop }

func (s *stopSignal) Error() string { return s.stop.String() }

// observation is one state that breaks a stop rule.
type observation struct {
	rule    string
	objects []string
	// state distinguishes a new occurrence from one already reported, for
	// example the failure time of a Certificate.
	state  string
	reason string
}

func (o observation) key() string {
	return o.rule + "|" + strings.Join(o.objects, ",") + "|" + o.state
}

// newStop builds the Stop for the observations that are not yet
// acknowledged, or returns nil when all are.
func (e *Engine) newStop(obs []observation, acknowledged []string) *Stop {
	var fresh []observation
	for _, o := range obs {
		if !slices.Contains(acknowledged, o.key()) {
			fresh = append(fresh, o)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	rule := fresh[0].rule
	stop := &Stop{Rule: rule, At: e.clock.Now()}
	var reasons []string
	for _, o := range fresh {
		if o.rule != rule {
			continue
		}
		for _, obj := range o.objects {
			if !slices.Contains(stop.Objects, obj) {
				stop.Objects = append(stop.Objects, obj)
			}
		}
		stop.Keys = append(stop.Keys, o.key())
		if !slices.Contains(reasons, o.reason) {
			reasons = append(reasons, o.reason)
		}
	}
	stop.Reason = joinReasons(reasons)
	stop.Next = e.nextCommand(rule)
	return stop
}

// maxListedReasons is how many reasons a stop spells out; the stop's
// objects still name every object involved.
const maxListedReasons = 3

// joinReasons joins reasons with semicolons, spelling out at most
// maxListedReasons of them and counting the rest.
func joinReasons(reasons []string) string {
	if len(reasons) <= maxListedReasons {
		return strings.Join(reasons, "; ")
	}
	return fmt.Sprintf("%s; and %d more like these (the stop's objects name them all)",
		strings.Join(reasons[:maxListedReasons], "; "), len(reasons)-maxListedReasons)
}

// nextCommand suggests what the operator runs after a stop of rule.
func (e *Engine) nextCommand(rule string) string {
	resume := e.resumeCommand()
	rollback := fmt.Sprintf("certwave rollback --plan %s --phase %d", e.planFile(), e.currentPhase())
	switch rule {
	case RuleRateLimited:
		return "wait until the limit's retry-after has passed, then " + resume
	case RuleAmbiguousShimTest:
		return "check cert-manager's Gateway API support (enableGatewayAPI) and the Gateway's events, then " + resume
	case RuleRepeatedRetries:
		return "review the ledger (certwave report), then " + resume
	default:
		return "inspect the objects, then " + resume + " or " + rollback
	}
}

// resumeCommand returns Options.ResumeCommand, or a generic command
// without the run's other flags.
func (e *Engine) resumeCommand() string {
	if e.opts.ResumeCommand != "" {
		return e.opts.ResumeCommand
	}
	if e.opts.Stager != nil {
		return fmt.Sprintf("certwave run --plan %s --gitops DIR --apply --resume", e.planFile())
	}
	return fmt.Sprintf("certwave run --plan %s --resume", e.planFile())
}

func (e *Engine) planFile() string {
	if e.opts.PlanFile == "" {
		return "PLAN"
	}
	return e.opts.PlanFile
}
