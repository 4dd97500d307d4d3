// Package plan turns an inventory into a migration plan: the cohorts, the
// preflight findings, the schedule of phases, canary and waves with calendar
// times, and the projection of Let's Encrypt's rate-limit budget. A plan is
// a plain value that serialises to YAML and JSON; the engine executes it.
package plan

import (
	"time"

	"github.com/certwave/certwave/topology"
)

// Variant selects how routes are issued.
type Variant string

const (
	// VariantHybrid issues internal routes from a private CA and public
	// routes from ACME.
	VariantHybrid Variant = "hybrid"
	// VariantAllACME puts every route through ACME and skips phase 1.
	VariantAllACME Variant = "all-acme"
)

// Severity of a preflight finding.
type Severity string

const (
	SeverityBlocker Severity = "blocker"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is one preflight finding.
type Finding struct {
	// ID is a stable kebab-case identifier, for example
	// gateway-api-disabled.
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	// Objects are the objects involved, as Kind/namespace/name.
	Objects []string `json:"objects"`
	Summary string   `json:"summary"`
	// Mechanism explains why it happens, in the terms of the components.
	Mechanism string `json:"mechanism"`
	Fix       string `json:"fix"`
}

// Cohort names.
const (
	CohortPublic     = "public"
	CohortInternal   = "internal"
	CohortOutOfScope = "out-of-scope"
)

// Host is one route hostname to migrate onto its own listener.
type Host struct {
	Hostname string `json:"hostname"`
	// App is the short name used for the listener (https-<app>) and the
	// Secret (<app>-tls).
	App string `json:"app"`
	// Gateway is namespace/name of the Gateway the route attaches to.
	Gateway string `json:"gateway"`
	// Routes are the HTTPRoutes (namespace/name) serving this hostname.
	Routes []string `json:"routes"`
	Cohort string   `json:"cohort"`
	// Issuer is Kind/name of the issuer the listener's Certificate uses.
	Issuer string `json:"issuer"`
	// Listener and SecretName are the per-host listener (https-<app>) and
	// its Secret (<app>-tls); FromListener is the listener that serves the
	// host before the migration.
	Listener     string `json:"listener"`
	SecretName   string `json:"secretName"`
	FromListener string `json:"fromListener"`
	// Manual is true when the plan creates the host's Certificate itself,
	// because annotating its Gateway is unsafe (a mirrored Secret, a second
	// writer). Otherwise the gateway-shim creates it.
	Manual bool `json:"manual,omitempty"`
	// Phase is the runbook phase that migrates the host.
	Phase int `json:"phase"`
}

// Cohort groups the hosts issued the same way.
type Cohort struct {
	Name     string   `json:"name"`
	Gateways []string `json:"gateways"`
	Hosts    []Host   `json:"hosts,omitempty"`
	// Reason is why the Gateways are in this cohort (set for out-of-scope).
	Reason string `json:"reason,omitempty"`
}

// StepKind is the action of one step.
type StepKind string

const (
	StepPreflight        StepKind = "preflight"
	StepAnnotateGateway  StepKind = "annotate-gateway"
	StepCreateIssuer     StepKind = "create-issuer"
	StepCreateCert       StepKind = "create-certificate"
	StepAddListener      StepKind = "add-listener"
	StepFlipRoute        StepKind = "flip-route"
	StepWaitReady        StepKind = "wait-ready"
	StepProbe            StepKind = "probe"
	StepSoak             StepKind = "soak"
	StepObserveRenewal   StepKind = "observe-renewal"
	StepRemoveListener   StepKind = "remove-listener"
	StepDeleteCert       StepKind = "delete-certificate"
	StepRemoveReflection StepKind = "remove-reflection"
	// StepShimTest checks, after a Gateway was annotated, that the shim
	// reacted as Step.Expect describes and created no unplanned Certificate.
	StepShimTest StepKind = "shim-test"
)

// Step is one action of the plan. Steps run in order; a step never starts
// before At.
type Step struct {
	// ID is unique in the plan and stable across runs, for example
	// p3-w2-add-listener-grafana.
	ID    string   `json:"id"`
	Phase int      `json:"phase"`
	Wave  int      `json:"wave,omitempty"`
	Kind  StepKind `json:"kind"`
	// Gateway is namespace/name.
	Gateway string `json:"gateway,omitempty"`
	// Listener is set for add-listener and remove-listener.
	Listener *ListenerSpec `json:"listener,omitempty"`
	// Route is namespace/name for flip-route; SectionName is the listener
	// the route moves to and FromSection the one it leaves.
	Route       string `json:"route,omitempty"`
	SectionName string `json:"sectionName,omitempty"`
	FromSection string `json:"fromSection,omitempty"`
	// Hosts are the hostnames the step concerns (wait, probe).
	Hosts []string `json:"hosts,omitempty"`
	// Annotations are set on the Gateway by annotate-gateway.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Certificate is namespace/name for certificate steps.
	Certificate string `json:"certificate,omitempty"`
	// Duration is the soak time or the wait timeout.
	Duration time.Duration `json:"duration,omitempty"`
	// Issuer is the issuer create-issuer creates.
	Issuer *IssuerSpec `json:"issuer,omitempty"`
	// CertificateSpec is the Certificate create-certificate creates.
	CertificateSpec *CertificateSpec `json:"certificateSpec,omitempty"`
	// Secrets are namespace/name of the Secrets the step deletes: the
	// Certificate's own Secret (delete-certificate) or the reflector
	// mirrors left behind (remove-reflection).
	Secrets []string `json:"secrets,omitempty"`
	// Expect is the observation the step needs to pass (shim-test,
	// observe-renewal).
	Expect string `json:"expect,omitempty"`
	// At is the earliest calendar time the step may start.
	At          time.Time `json:"at"`
	Description string    `json:"description"`
}

// ListenerSpec is a per-host listener the plan adds or removes.
type ListenerSpec struct {
	Name       string `json:"name"`
	Hostname   string `json:"hostname"`
	Port       int32  `json:"port"`
	Protocol   string `json:"protocol"`
	SecretName string `json:"secretName"`
	// AllowedNamespaces is copied from the listener the host leaves, so the
	// same routes may attach.
	AllowedNamespaces string `json:"allowedNamespaces,omitempty"`
}

// IssuerSpec is a cert-manager issuer the plan creates.
type IssuerSpec struct {
	// Kind is ClusterIssuer.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Type is SelfSigned or CA.
	Type string `json:"type"`
	// CASecret is spec.ca.secretName of a CA issuer, in the cluster
	// resource namespace.
	CASecret string `json:"caSecret,omitempty"`
}

// CertificateSpec is a cert-manager Certificate the plan creates.
type CertificateSpec struct {
	Namespace  string   `json:"namespace"`
	Name       string   `json:"name"`
	SecretName string   `json:"secretName"`
	CommonName string   `json:"commonName,omitempty"`
	DNSNames   []string `json:"dnsNames,omitempty"`
	// IssuerRef is Kind/name.
	IssuerRef   string        `json:"issuerRef"`
	IsCA        bool          `json:"isCA,omitempty"`
	Duration    time.Duration `json:"duration,omitempty"`
	RenewBefore time.Duration `json:"renewBefore,omitempty"`
}

// Phase is one runbook phase.
type Phase struct {
	Number int    `json:"number"`
	Name   string `json:"name"`
	// Skipped is the reason a phase has no steps (phase 1 in the all-ACME
	// variant).
	Skipped string `json:"skipped,omitempty"`
	// Notes list what the phase deliberately leaves in place, and why.
	Notes []string `json:"notes,omitempty"`
}

// BudgetDay is the projected state of the rate-limit buckets at the end of
// one calendar day of the plan.
type BudgetDay struct {
	Date time.Time `json:"date"`
	// Orders is the number of new ACME orders planned that day.
	Orders int `json:"orders"`
	// Remaining is the projected tokens left per limit and bucket key at
	// the end of the day, after the planned orders.
	Remaining map[string]int64 `json:"remaining"`
	// Reserve is the number of tokens held back for retries and the
	// wildcard's own renewal.
	Reserve int64 `json:"reserve"`
	// Refused is the number of planned orders Let's Encrypt would refuse
	// that day; only a forced plan has any.
	Refused int `json:"refused,omitempty"`
}

// Breach describes the first limit a plan would exceed.
type Breach struct {
	Limit string    `json:"limit"`
	Key   string    `json:"key"`
	At    time.Time `json:"at"`
	// Until is when issuance for that key is possible again if the plan is
	// forced anyway.
	Until  time.Time `json:"until"`
	Detail string    `json:"detail"`
}

// Options are the planner's settings.
type Options struct {
	Variant Variant `json:"variant"`
	// InternalGateways are namespace/name of the Gateways whose hosts get
	// private-CA certificates (default: every Gateway named internal).
	InternalGateways []string `json:"internalGateways,omitempty"`
	// ACMEIssuer and PrivateIssuer are Kind/name.
	ACMEIssuer    string `json:"acmeIssuer"`
	PrivateIssuer string `json:"privateIssuer"`
	// Profile is the ACME profile of the issuer: classic, tlsserver or
	// shortlived.
	Profile string `json:"profile"`
	// Duration is the cert-manager.io/duration annotation the plan sets;
	// zero leaves it to the issuer.
	Duration time.Duration `json:"duration,omitempty"`
	// Start is the calendar time of the first step.
	Start             time.Time     `json:"start"`
	WaveSize          int           `json:"waveSize"`
	WaveSoak          time.Duration `json:"waveSoak"`
	CanarySoak        time.Duration `json:"canarySoak"`
	InternalBatchSize int           `json:"internalBatchSize"`
	ReadyTimeout      time.Duration `json:"readyTimeout"`
	WavesPerDay       int           `json:"wavesPerDay"`
	Reserve           int64         `json:"reserve"`
	Force             bool          `json:"force,omitempty"`
	// Canary is the hostname of the phase-2 canary; empty picks the first
	// public host by name on a Gateway the shim handles.
	Canary string `json:"canary,omitempty"`
	// RenewBefore is the cert-manager.io/renew-before annotation the plan
	// sets; zero leaves renewal at two thirds of the real lifetime.
	RenewBefore time.Duration `json:"renewBefore,omitempty"`
	// ClusterResourceNamespace is cert-manager's cluster resource namespace,
	// where the private CA's Secret lives.
	ClusterResourceNamespace string `json:"clusterResourceNamespace,omitempty"`
	// LimitModel is boulder or sliding-window.
	LimitModel string `json:"limitModel,omitempty"`
}

// Plan is a complete migration plan.
type Plan struct {
	APIVersion string `json:"apiVersion"`
	Source     string `json:"source"`
	// Context is the kubeconfig context of the cluster the inventory was
	// read from; empty when it came from a GitOps tree or the reference.
	// certwave run refuses another context unless --context names it.
	Context  string      `json:"context,omitempty"`
	Domain   string      `json:"domain"`
	Options  Options     `json:"options"`
	Cohorts  []Cohort    `json:"cohorts"`
	Findings []Finding   `json:"findings"`
	Phases   []Phase     `json:"phases"`
	Steps    []Step      `json:"steps"`
	Budget   []BudgetDay `json:"budget"`
	// End is the scheduled time of the last step; LowerBound is the
	// shortest calendar time any schedule under the same soak policy and
	// limits could take.
	End        time.Time     `json:"end"`
	LowerBound time.Duration `json:"lowerBound"`
	// Breach is set when the plan would exceed a limit; such a plan is
	// refused unless Options.Force.
	Breach *Breach `json:"breach,omitempty"`
	// Orders are the ACME orders the steps cause, in time order.
	Orders []PlannedOrder `json:"orders,omitempty"`
	// PublicSpan is the time from the first public order to the end of the
	// soak after the last one, the span LowerBound is the minimum of.
	PublicSpan time.Duration `json:"publicSpan"`
	// Inventory is the inventory the plan was made from, so the engine can
	// detect drift and rebuild the world.
	Inventory *topology.Inventory `json:"inventory,omitempty"`
}
