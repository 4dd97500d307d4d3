package engine

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/ratelimit"
)

// RuleBudgetReserve stops before a wave whose new orders would leave
// fewer certificates for a registered domain than the plan's reserve, or
// that Let's Encrypt would refuse, counting every issuance the cluster
// shows. Unlike the stop-and-ask rules it is never acknowledged: each run
// checks the buckets again, and the wave goes ahead once they refilled.
const RuleBudgetReserve = "budget-reserve"

// budgetWindow is the window of Let's Encrypt's per-domain limit: it
// refills one certificate every 7 days / 50 (about 3h22m), so an issuance
// older than 7 days no longer counts against it
// (letsencrypt.org/docs/rate-limits, checked 2026-12). Issuances are read
// for ratelimit.RenewalWindow, because an older issuance of the same names
// still makes an order a renewal, exempt from that limit.
const budgetWindow = 7 * 24 * time.Hour

// sameIssuanceSlack is how far apart a ledger event and a
// CertificateRequest of the same Certificate and names may be and still
// be one issuance.
const sameIssuanceSlack = time.Hour

// Issuance is one certificate Let's Encrypt issued, as the cluster or
// certwave's ledger shows it.
type Issuance struct {
	At    time.Time `json:"at"`
	Names []string  `json:"names"`
	// Certificate is namespace/name, empty when unknown.
	Certificate string `json:"certificate,omitempty"`
	// Source is IssuanceFromCluster or IssuanceFromLedger.
	Source string `json:"source"`
}

// Sources of an Issuance.
const (
	IssuanceFromCluster = "cluster"
	IssuanceFromLedger  = "ledger"
)

// checkWaveBudget recomputes Let's Encrypt's buckets from the issuances
// the cluster's CertificateRequests and the ledger show, then checks the
// new orders the rest of step's wave will place. It returns a stop when
// they would cut into the plan's reserve or be refused, and nil when the
// step places no order.
func (e *Engine) checkWaveBudget(ctx context.Context, st *runState, step *plan.Step) (*Stop, error) {
	orders := e.remainingWaveOrders(st, step)
	if len(orders) == 0 {
		return nil, nil
	}
	now := e.clock.Now()
	history, err := Issuances(ctx, e.client, e.plan, &st.prog.Ledger, now, e.log)
	if err != nil {
		return nil, fmt.Errorf("budget check before step %s: %w", step.ID, err)
	}
	model, err := ratelimit.NewModel()
	if err != nil {
		return nil, fmt.Errorf("budget check before step %s: %w", step.ID, err)
	}
	for _, h := range history {
		model.RecordIssuance(h.At, ratelimit.Order{Account: e.plan.Options.ACMEIssuer, Names: h.Names})
	}

	reserve := e.plan.Options.Reserve
	// available is what each registered domain's bucket holds before the
	// wave, for the stop's reason: it has refilled since the issuances.
	available := map[string]int64{}
	for _, o := range orders {
		for _, d := range registeredDomains(o.Names) {
			if _, ok := available[d]; !ok {
				available[d] = model.Remaining(now, ratelimit.CertificatesPerDomain, d)
			}
		}
	}
	for i, o := range orders {
		order := ratelimit.Order{Account: e.plan.Options.ACMEIssuer, Names: o.Names}
		if !o.Renewal && !model.IsRenewal(now, o.Names) {
			for _, d := range registeredDomains(o.Names) {
				left := model.Remaining(now, ratelimit.CertificatesPerDomain, d)
				if left-1 >= reserve {
					continue
				}
				fromCluster, fromLedger := countDomain(history, d, now.Add(-budgetWindow))
				reason := fmt.Sprintf("wave %s places %d new orders, and order %d (%s) would leave %d certificates for %s, below the plan's reserve of %d. "+
					"Let's Encrypt allows %d more for %s now: %d were issued in the last 7 days (%d seen as issued CertificateRequests in the cluster, %d only in certwave's ledger), and the bucket refills one every %s",
					waveKey(step), len(orders), i+1, strings.Join(o.Names, ","), left-1, d, reserve,
					available[d], d, fromCluster+fromLedger, fromCluster, fromLedger, strings.TrimSuffix(refillWait(1).Round(time.Minute).String(), "0s"))
				return e.budgetStop(step, orders, reason, now.Add(refillWait(reserve+1-left))), nil
			}
		}
		decision := model.CheckNewOrder(now, order)
		if decision.Error != "" {
			return nil, fmt.Errorf("budget check before step %s: order for %s: %s", step.ID, strings.Join(o.Names, ","), decision.Error)
		}
		if !decision.Allowed {
			reason := fmt.Sprintf("Let's Encrypt would refuse order %d of wave %s (%s): %s for %s, retry in %s",
				i+1, waveKey(step), strings.Join(o.Names, ","), decision.Limit, decision.Key, decision.RetryIn.Round(time.Minute))
			return e.budgetStop(step, orders, reason, now.Add(decision.RetryIn)), nil
		}
		model.RecordIssuance(now, order)
	}
	e.log.Info("budget check passed", "step", step.ID, "wave", waveKey(step), "orders", len(orders),
		"issuancesInWindow", len(history))
	return nil, nil
}

// budgetStop builds the stop of a wave the budget does not allow. A plan
// made with Force accepted breaching the limits, so it only logs the
// reason and returns nil.
func (e *Engine) budgetStop(step *plan.Step, orders []plan.PlannedOrder, reason string, until time.Time) *Stop {
	if e.plan.Options.Force {
		e.log.Warn("budget check failed, continuing because the plan was forced", "step", step.ID, "reason", reason, "until", until)
		fmt.Fprintf(e.out, "WARNING budget: %s; continuing because the plan was made with --force\n", reason)
		return nil
	}
	var objects []string
	for _, o := range orders {
		if o.Certificate != "" {
			if obj := "Certificate/" + o.Certificate; !slices.Contains(objects, obj) {
				objects = append(objects, obj)
			}
		}
	}
	return &Stop{
		Rule:    RuleBudgetReserve,
		Reason:  reason + ". The buckets allow the wave again at about " + until.UTC().Format(time.RFC3339),
		Objects: objects,
		At:      e.clock.Now(),
		Next:    fmt.Sprintf("wait until %s, then certwave run --plan %s --resume (each run checks the buckets again)", until.UTC().Format(time.RFC3339), e.planFile()),
		Step:    step.ID,
	}
}

// refillWait is how long the per-domain bucket takes to return n
// certificates.
func refillWait(n int64) time.Duration {
	if n < 1 {
		n = 1
	}
	for _, l := range ratelimit.Limits() {
		if l.Name == ratelimit.CertificatesPerDomain {
			return time.Duration(n) * l.Per
		}
	}
	return budgetWindow
}

// remainingWaveOrders returns the planned orders of step and of the steps
// after it in the same wave that are not done.
func (e *Engine) remainingWaveOrders(st *runState, step *plan.Step) []plan.PlannedOrder {
	if !hasOrder(e.plan.Orders, step.ID) {
		return nil
	}
	key := waveKey(step)
	steps := map[string]bool{}
	for i := range e.plan.Steps {
		s := &e.plan.Steps[i]
		if waveKey(s) == key && !st.completed[s.ID] {
			steps[s.ID] = true
		}
	}
	var out []plan.PlannedOrder
	for _, o := range e.plan.Orders {
		if steps[o.Step] {
			out = append(out, o)
		}
	}
	return out
}

func hasOrder(orders []plan.PlannedOrder, stepID string) bool {
	return slices.ContainsFunc(orders, func(o plan.PlannedOrder) bool { return o.Step == stepID })
}

// Issuances returns the Let's Encrypt issuances of the last
// ratelimit.RenewalWindow, oldest first. They are every issued
// CertificateRequest of an ACME issuer on the plan's ACME server, and the
// ledger's issuances that no such request accounts for, such as requests
// removed by revisionHistoryLimit or with their Certificate.
//
// NOTE: certificates for the same domains issued outside this cluster are
// invisible here; the reserve is what covers them.
func Issuances(ctx context.Context, c client.Client, p *plan.Plan, ledger *Ledger, now time.Time, log *slog.Logger) ([]Issuance, error) {
	since := now.Add(-ratelimit.RenewalWindow)
	issuers := letsEncryptIssuers(p)
	var list cmv1.CertificateRequestList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list CertificateRequests: %w", err)
	}
	var out []Issuance
	for i := range list.Items {
		cr := &list.Items[i]
		if !issuers[issuerKey(cr.Namespace, cr.Spec.IssuerRef)] {
			continue
		}
		at, ok := issuedAt(cr)
		if !ok || at.Before(since) || at.After(now) {
			continue
		}
		names, err := requestNames(cr.Spec.Request)
		if err != nil {
			log.Warn("CertificateRequest left out of the budget: its CSR does not parse", "certificateRequest", cr.Namespace+"/"+cr.Name, "error", err)
			continue
		}
		out = append(out, Issuance{At: at, Names: names, Certificate: cr.Namespace + "/" + cr.Annotations[cmv1.CertificateNameKey], Source: IssuanceFromCluster})
	}
	for _, ev := range ledger.events() {
		if ev.Type != ACMEIssued || ev.At.Before(since) || ev.At.After(now) {
			continue
		}
		if slices.ContainsFunc(out, func(p Issuance) bool { return p.sameAs(ev) }) {
			continue
		}
		out = append(out, Issuance{At: ev.At, Names: ev.Names, Certificate: ev.Certificate, Source: IssuanceFromLedger})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// sameAs reports whether a ledger event is this issuance.
func (p Issuance) sameAs(ev ACMEEvent) bool {
	if p.Source != IssuanceFromCluster || (ev.Certificate != "" && ev.Certificate != p.Certificate) {
		return false
	}
	if ratelimit.NameSetKey(p.Names) != ratelimit.NameSetKey(ev.Names) {
		return false
	}
	gap := p.At.Sub(ev.At)
	return gap < sameIssuanceSlack && gap > -sameIssuanceSlack
}

// letsEncryptIssuers returns the keys (see issuerKey) of the inventory's
// ACME issuers on the same server as the plan's ACME issuer: every
// certificate they issue counts against the same per-domain buckets,
// whatever the account.
func letsEncryptIssuers(p *plan.Plan) map[string]bool {
	kind, name, _ := strings.Cut(p.Options.ACMEIssuer, "/")
	out := map[string]bool{kind + "//" + name: true}
	inv := p.Inventory
	if inv == nil {
		return out
	}
	server := ""
	for _, is := range inv.Issuers {
		if is.Kind == kind && is.Name == name {
			server = is.ACMEServer
		}
	}
	for _, is := range inv.Issuers {
		if is.Type == "ACME" && server != "" && is.ACMEServer == server {
			ns := is.Namespace
			if is.Kind == "ClusterIssuer" {
				ns = ""
			}
			out[is.Kind+"/"+ns+"/"+is.Name] = true
		}
	}
	return out
}

// issuerKey is Kind/namespace/name of a request's issuer; the namespace is
// empty for a ClusterIssuer.
func issuerKey(namespace string, ref cmmeta.IssuerReference) string {
	kind := ref.Kind
	if kind == "" {
		kind = "Issuer"
	}
	if kind == "ClusterIssuer" {
		namespace = ""
	}
	return kind + "/" + namespace + "/" + ref.Name
}

// issuedAt returns when a request was issued: the transition time of its
// Ready=True condition with reason Issued.
func issuedAt(cr *cmv1.CertificateRequest) (time.Time, bool) {
	for _, c := range cr.Status.Conditions {
		if c.Type == cmv1.CertificateRequestConditionReady && c.Status == cmmeta.ConditionTrue && c.Reason == cmv1.CertificateRequestReasonIssued {
			if c.LastTransitionTime != nil {
				return c.LastTransitionTime.Time, true
			}
			return cr.CreationTimestamp.Time, true
		}
	}
	return time.Time{}, false
}

// requestNames returns the DNS names of a PEM-encoded CSR.
func requestNames(request []byte) ([]string, error) {
	block, _ := pem.Decode(request)
	if block == nil {
		return nil, errors.New("invalid spec.request: missing PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	names := slices.Clone(csr.DNSNames)
	if len(names) == 0 && csr.Subject.CommonName != "" {
		names = []string{csr.Subject.CommonName}
	}
	return names, nil
}

// registeredDomains returns the registered domains of names, each once.
func registeredDomains(names []string) []string {
	var out []string
	for _, n := range names {
		if d, err := ratelimit.RegisteredDomain(n); err == nil && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// countDomain counts the issuances since a time with a name under domain
// d, split by where they were seen.
func countDomain(history []Issuance, d string, since time.Time) (fromCluster, fromLedger int) {
	for _, h := range history {
		if h.At.Before(since) || !slices.Contains(registeredDomains(h.Names), d) {
			continue
		}
		if h.Source == IssuanceFromCluster {
			fromCluster++
		} else {
			fromLedger++
		}
	}
	return fromCluster, fromLedger
}
