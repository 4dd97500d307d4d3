// Package scenarios holds certwave's rehearsal scenarios (the *.yaml files
// of this folder) and their schema: a topology, world options, plan options,
// faults with times, what the run does, and the outcomes a world must
// produce. Load validates a file completely before anything runs.
package scenarios

import (
	"time"
)

// Scenario is one rehearsal.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Labels select scenarios (for example phase-3, failure, stop-rule).
	Labels []string `yaml:"labels"`
	// Seed overrides the suite seed for this scenario; zero keeps it.
	Seed     int64    `yaml:"seed"`
	Topology Topology `yaml:"topology"`
	World    World    `yaml:"world"`
	Plan     PlanSpec `yaml:"plan"`
	Faults   []Fault  `yaml:"faults"`
	Actions  []Action `yaml:"actions"`
	Run      RunSpec  `yaml:"run"`
	Expect   Expect   `yaml:"expect"`
	// Needs lists capabilities a world must have to rehearse the scenario,
	// for example compressed-backoff. A world without one reports the
	// scenario as unsupported, never as passed.
	Needs []string `yaml:"needs"`

	// File is the path the scenario was loaded from.
	File string `yaml:"-"`
}

// Topology selects the inventory: exactly one of Reference, GitOps or
// Inline.
type Topology struct {
	Reference bool        `yaml:"reference"`
	GitOps    *GitOpsTree `yaml:"gitops"`
	// Inline is an inventory written out in the scenario, in the JSON
	// field names of topology.Inventory.
	Inline map[string]any `yaml:"inline"`
	// ClientPaths are added to the inventory, for example a tunnel with a
	// fixed origin server name.
	ClientPaths []ClientPath `yaml:"clientPaths"`
	// GatewayAPIEnabled overrides the inventory's cert-manager setting, as
	// an operator who fixed that finding before planning would.
	GatewayAPIEnabled *bool `yaml:"gatewayAPIEnabled"`
}

// GitOpsTree is a GitOps directory; Dir may start with $CERTWAVE_FIXTURES.
type GitOpsTree struct {
	Dir string            `yaml:"dir"`
	Set map[string]string `yaml:"set"`
}

// ClientPath adds a client path to the topology.
type ClientPath struct {
	Name       string   `yaml:"name"`
	Kind       string   `yaml:"kind"`
	Gateway    string   `yaml:"gateway"`
	ServerName string   `yaml:"serverName"`
	Hostnames  []string `yaml:"hostnames"`
}

// World holds the options of the simulated world.
type World struct {
	// CertManagerVersion is v1.17 or v1.21 (default v1.21).
	CertManagerVersion string `yaml:"certManagerVersion"`
	// GatewayAPIEnabled overrides the inventory's cert-manager setting.
	GatewayAPIEnabled *bool `yaml:"gatewayAPIEnabled"`
	// EnvoyGatewayVersion is 1.8 or 1.9 (default 1.9).
	EnvoyGatewayVersion string `yaml:"envoyGatewayVersion"`
	// Profile is the ACME profile: classic, tlsserver or shortlived.
	Profile           string `yaml:"profile"`
	ConcurrentWorkers int    `yaml:"concurrentWorkers"`
	// LegacyRateLimits selects the pre-2025 sliding-window limits.
	LegacyRateLimits bool `yaml:"legacyRateLimits"`
}

// PlanSpec holds the planner options the scenario sets; unset fields keep
// the planner's defaults.
type PlanSpec struct {
	Variant          string    `yaml:"variant"`
	InternalGateways []string  `yaml:"internalGateways"`
	Start            time.Time `yaml:"start"`
	WaveSize         int       `yaml:"waveSize"`
	WaveSoak         *Duration `yaml:"waveSoak"`
	CanarySoak       *Duration `yaml:"canarySoak"`
	InternalBatch    int       `yaml:"internalBatch"`
	Duration         Duration  `yaml:"duration"`
	RenewBefore      Duration  `yaml:"renewBefore"`
	Profile          string    `yaml:"profile"`
	Reserve          *int64    `yaml:"reserve"`
	Force            bool      `yaml:"force"`
}

// Fault is a failure injected into the world. At and Until are offsets
// from the plan's start.
type Fault struct {
	// Kind is dns01-fail, rate-limit, delay-issuance or acme-5xx.
	Kind  string   `yaml:"kind"`
	Names []string `yaml:"names"`
	From  Duration `yaml:"from"`
	Until Duration `yaml:"until"`
	Delay Duration `yaml:"delay"`
}

// Action is something the scenario does to the world besides the engine,
// at an offset from the plan's start.
type Action struct {
	At Duration `yaml:"at"`
	// Kind is annotate-gateway (an operator annotating a Gateway by hand),
	// delete-secret, or create-certificate (a new Certificate for DNSNames
	// from the ClusterIssuer Issuer, writing Secret <name>-tls).
	Kind string `yaml:"kind"`
	// Count makes create-certificate create that many Certificates,
	// <name>-1 to <name>-N, with {i} in DNSNames replaced by 1 to N:
	// another team's certificates for the same domain, for example.
	Count       int               `yaml:"count"`
	Gateway     string            `yaml:"gateway"`
	Secret      string            `yaml:"secret"`
	Certificate string            `yaml:"certificate"`
	DNSNames    []string          `yaml:"dnsNames"`
	Issuer      string            `yaml:"issuer"`
	Annotations map[string]string `yaml:"annotations"`
}

// RunSpec says how the engine runs.
type RunSpec struct {
	// Until stops the engine after a phase, for example phase2; empty runs
	// to the end.
	Until string `yaml:"until"`
	// KillAfter lists step IDs after which the engine is killed and a new
	// engine resumes from the persisted progress.
	KillAfter []string `yaml:"killAfter"`
	// KillEvery kills the engine after every Nth step and resumes it.
	KillEvery int `yaml:"killEvery"`
	// ResumeAfter resumes a stopped run this long after the stop (for
	// example after the rate limit refilled), at most MaxResumes times
	// (default 1).
	ResumeAfter Duration `yaml:"resumeAfter"`
	MaxResumes  int      `yaml:"maxResumes"`
	// Accept lists blocker findings the operator accepts, so the engine's
	// preflight does not stop on them.
	Accept []string `yaml:"accept"`
	// RollbackAfter waits this long after the run before the rollback.
	RollbackAfter Duration `yaml:"rollbackAfter"`
	// Rollback rolls back this phase after the run (zero: none).
	Rollback int `yaml:"rollback"`
	// ObserveFor keeps the world running after the engine finished, to
	// watch renewals.
	ObserveFor Duration `yaml:"observeFor"`
	// PlanOnly stops after planning: the scenario judges the plan.
	PlanOnly bool `yaml:"planOnly"`
	// GitOps runs the engine in GitOps mode on a Git copy of the
	// topology's tree; a stand-in for Flux applies each commit.
	GitOps *GitOpsRun `yaml:"gitops"`
}

// GitOpsRun is the path of a GitOps run's commits to the world.
type GitOpsRun struct {
	// MergeAfter is how long after each commit it is merged and applied.
	MergeAfter Duration `yaml:"mergeAfter"`
}

// Expect lists the outcomes the run must produce. Unset fields are not
// judged.
type Expect struct {
	// PlanRefused expects the planner to refuse the plan for this limit.
	PlanRefused string `yaml:"planRefused"`
	// LockedOut expects a forced plan to lock issuance out: the limit that
	// refuses and the minimum lock-out length.
	LockedOut *LockOut `yaml:"lockedOut"`
	// Findings must all be reported by the preflight.
	Findings []string `yaml:"findings"`
	// NoFindings must not be reported.
	NoFindings []string `yaml:"noFindings"`
	// Stop expects the engine's first stop to be on this rule; "none"
	// expects it to finish without stopping.
	Stop string `yaml:"stop"`
	// Stops lists every stop of the run in order, resumes included.
	Stops []string `yaml:"stops"`
	// MaxACMEOrders bounds the ACME orders of the whole run.
	MaxACMEOrders *int `yaml:"maxACMEOrders"`
	// MinACMEOrders bounds them from below.
	MinACMEOrders *int `yaml:"minACMEOrders"`
	// MinAvailability bounds the lowest per-host availability.
	MinAvailability *float64 `yaml:"minAvailability"`
	// Unavailable lists hosts that must have been down at some time.
	Unavailable []string `yaml:"unavailable"`
	// Unreachable lists host@client-path pairs that must never be served.
	Unreachable []string `yaml:"unreachable"`
	// EndState judges the cluster after the run.
	EndState *EndState `yaml:"endState"`
	// Trace lists events that must appear in the world's trace.
	Trace []TraceMatch `yaml:"trace"`
	// NoTrace lists events that must not appear.
	NoTrace []TraceMatch `yaml:"noTrace"`
	// Renewals judges a Certificate's renewal cadence.
	Renewals []RenewalExpect `yaml:"renewals"`
	// RollbackOrders is the ACME orders the rollback must cost.
	RollbackOrders *int `yaml:"rollbackOrders"`
	// CTExposed expects at least this many internal hostnames to appear in
	// Certificate Transparency logs (all-ACME variant).
	CTExposed *int `yaml:"ctExposed"`
	// MaxDays bounds the virtual duration of the run in days.
	MaxDays *float64 `yaml:"maxDays"`
	MinDays *float64 `yaml:"minDays"`
	// Completed expects every plan step to be completed exactly once
	// (judged from the engine's list of completed steps).
	Completed bool `yaml:"completed"`
	// SecretsKept expects no Certificate or Secret deleted by a stop.
	SecretsKept bool `yaml:"secretsKept"`
}

// LockOut describes an expected rate-limit lock-out.
type LockOut struct {
	Limit   string   `yaml:"limit"`
	AtLeast Duration `yaml:"atLeast"`
}

// EndState is the expected state after the run.
type EndState struct {
	WildcardCertificate *bool `yaml:"wildcardCertificate"`
	WildcardListeners   *int  `yaml:"wildcardListeners"`
	RoutesOnOwnListener *int  `yaml:"routesOnOwnListener"`
	PrivateCAHosts      *int  `yaml:"privateCAHosts"`
	ACMEHosts           *int  `yaml:"acmeHosts"`
	Reflection          *bool `yaml:"reflection"`
}

// TraceMatch matches a trace event by kind and a substring of its object
// and detail; Count (when set) is the exact number of matches, MinCount the
// minimum.
type TraceMatch struct {
	Kind     string `yaml:"kind"`
	Object   string `yaml:"object"`
	Detail   string `yaml:"detail"`
	Count    *int   `yaml:"count"`
	MinCount int    `yaml:"minCount"`
}

// RenewalExpect judges the renewals of one Certificate: the first renewal
// happens Day days (±Tolerance) after the first issuance, or every Every.
type RenewalExpect struct {
	Certificate string   `yaml:"certificate"`
	FirstAfter  Duration `yaml:"firstAfter"`
	Every       Duration `yaml:"every"`
	Tolerance   Duration `yaml:"tolerance"`
}
