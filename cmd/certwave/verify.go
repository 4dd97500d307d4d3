package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/engine/tlsprobe"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// verifyWorkers is the number of probes verify runs at once.
const verifyWorkers = 4

type verifyFlags struct {
	planFile  string
	addresses []string
	caFile    string
	rootsFile string
	hosts     []string
	timeout   time.Duration
	output    string
}

func newVerifyCommand() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Probe every host of a plan over real TLS through each client path and check the served certificate",
		Long: `verify connects to each host of a plan's public and internal cohorts through
every client path that carries it, the way that path's clients do: a TLS
handshake with SNI set to the host (direct paths) or to the path's fixed
server name (fixed-sni paths), then an HTTP/1.1 GET / with the host in the
Host header.

The served certificate must chain to the system roots or --roots-file
(public hosts) or to the private CA given with --ca-file (internal hosts),
cover the name sent as SNI and be valid now. A probe fails unless the certificate passes and the
response is not HTTP 404.

It prints one line per host and client path and exits with status 2 when
any probe fails.`,
		Example: `  certwave verify --plan plan.yaml --ca-file private-ca.pem
  certwave verify --plan plan.yaml --address direct=203.0.113.10:443 --host grafana.example.com
  certwave verify --plan plan.yaml --roots-file letsencrypt-staging.pem -o json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.planFile, "plan", "", "plan file (YAML or JSON) written by certwave plan --out; required")
	fl.StringArrayVar(&f.addresses, "address", nil, "PATH=HOST:PORT: dial HOST:PORT for client path PATH, such as the Gateway's LoadBalancer; repeatable (default: the name sent as SNI, port 443)")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM bundle of the private CA that issues the internal hosts' certificates")
	fl.StringVar(&f.rootsFile, "roots-file", "", "PEM bundle of the roots for public hosts, such as Let's Encrypt's staging roots (default: the system roots)")
	fl.StringArrayVar(&f.hosts, "host", nil, "probe only this hostname of the plan; repeatable")
	fl.DurationVar(&f.timeout, "timeout", tlsprobe.DefaultTimeout, "time limit of one probe (dial, handshake and request), as a Go duration")
	fl.StringVarP(&f.output, "output", "o", formatTable, "output format: table or json")
	return cmd
}

// verifyTarget is one host of the plan.
type verifyTarget struct {
	host    string
	gateway string
	private bool
}

// verifyResult is one probe as verify prints it.
type verifyResult struct {
	engine.ProbeResult
	// Private is true for a host of the internal cohort, verified against
	// the private CA.
	Private bool `json:"private"`
}

// verifyReport is verify's JSON output.
type verifyReport struct {
	Plan    string         `json:"plan"`
	Results []verifyResult `json:"results"`
	Failed  int            `json:"failed"`
}

func runVerify(cmd *cobra.Command, f *verifyFlags) error {
	if err := checkFormat(f.output, formatTable, formatJSON); err != nil {
		return err
	}
	if f.planFile == "" {
		return errors.New("missing --plan: pass the plan file written by certwave plan --out")
	}
	if f.timeout <= 0 {
		return fmt.Errorf("invalid --timeout %s: want a positive Go duration such as 5s", f.timeout)
	}
	p, err := plan.Load(f.planFile)
	if err != nil {
		return err
	}
	targets, err := planTargets(p, f.hosts)
	if err != nil {
		return err
	}
	opts, err := f.proberOptions(p)
	if err != nil {
		return err
	}
	prober, err := tlsprobe.New(opts)
	if err != nil {
		return err
	}

	type job struct {
		target verifyTarget
		path   string
	}
	var jobs []job
	for _, target := range targets {
		for _, path := range pathsCarrying(opts.Paths, target) {
			jobs = append(jobs, job{target, path.Name})
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "certwave verify: %d hosts, %d probes\n", len(targets), len(jobs))

	ctx := cmd.Context()
	results := make([]verifyResult, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(verifyWorkers, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				j := jobs[i]
				res, err := prober.ProbeExpect(ctx, j.target.host, j.path, tlsprobe.Expectation{Private: j.target.private})
				results[i] = verifyResult{ProbeResult: res, Private: j.target.private}
				errs[i] = err
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("verify stopped: %w", err)
		}
	}

	failed := 0
	for _, r := range results {
		if r.Outcome != engine.OutcomeServed {
			failed++
		}
	}
	if f.output == formatJSON {
		report := verifyReport{Plan: f.planFile, Results: results, Failed: failed}
		if err := writeStructured(cmd.OutOrStdout(), formatJSON, report); err != nil {
			return err
		}
	} else if err := writeVerifyTable(cmd.OutOrStdout(), results); err != nil {
		return err
	}
	if failed > 0 {
		return withCode(exitFailed, fmt.Errorf("%d of %d probes failed", failed, len(results)))
	}
	return nil
}

// planTargets returns the hosts of the plan's cohorts, in plan order,
// restricted to only when it is not empty. Hosts of the internal cohort are
// private.
func planTargets(p *plan.Plan, only []string) ([]verifyTarget, error) {
	var targets []verifyTarget
	known := map[string]bool{}
	for _, cohort := range p.Cohorts {
		for _, h := range cohort.Hosts {
			known[strings.ToLower(h.Hostname)] = true
			if len(only) > 0 && !slices.ContainsFunc(only, func(s string) bool { return strings.EqualFold(s, h.Hostname) }) {
				continue
			}
			targets = append(targets, verifyTarget{host: h.Hostname, gateway: h.Gateway, private: cohort.Name == plan.CohortInternal})
		}
	}
	for _, h := range only {
		if !known[strings.ToLower(h)] {
			return nil, fmt.Errorf("invalid --host %q: the plan has no such host in its cohorts", h)
		}
	}
	if len(targets) == 0 {
		return nil, errors.New("the plan has no hosts to verify: its cohorts are empty")
	}
	return targets, nil
}

// proberOptions builds the prober's options from the plan's client paths
// and the flags.
func (f *verifyFlags) proberOptions(p *plan.Plan) (tlsprobe.Options, error) {
	opts := tlsprobe.Options{Timeout: f.timeout, Addresses: map[string]string{}}
	if p.Inventory != nil {
		opts.Paths = p.Inventory.ClientPaths
	}
	if len(opts.Paths) == 0 {
		opts.Paths = []topology.ClientPath{{Name: tlsprobe.DefaultPathName, Kind: topology.ClientPathDirect}}
	}

	for _, a := range f.addresses {
		name, addr, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return opts, fmt.Errorf("invalid --address %q: want PATH=HOST:PORT, for example direct=203.0.113.10:443", a)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return opts, fmt.Errorf("invalid --address %q: want PATH=HOST:PORT, for example direct=203.0.113.10:443", a)
		}
		if !slices.ContainsFunc(opts.Paths, func(cp topology.ClientPath) bool { return cp.Name == name }) {
			return opts, fmt.Errorf("invalid --address %q: the plan has no client path %q", a, name)
		}
		opts.Addresses[name] = addr
	}

	var err error
	if f.caFile != "" {
		if opts.PrivateRoots, err = tlsprobe.ReadRoots("--ca-file", f.caFile); err != nil {
			return opts, err
		}
	}
	if f.rootsFile != "" {
		if opts.Roots, err = tlsprobe.ReadRoots("--roots-file", f.rootsFile); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// pathsCarrying returns the client paths that carry target: every path
// except those tied to another Gateway or to host patterns target does
// not match. The engine applies the same rule when it probes.
func pathsCarrying(paths []topology.ClientPath, target verifyTarget) []topology.ClientPath {
	var out []topology.ClientPath
	for _, p := range paths {
		if p.Gateway != "" && target.gateway != "" && p.Gateway != target.gateway {
			continue
		}
		if len(p.Hostnames) > 0 && !slices.ContainsFunc(p.Hostnames, func(pattern string) bool {
			return topology.HostnameMatches(pattern, target.host)
		}) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func writeVerifyTable(w io.Writer, results []verifyResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tPATH\tOUTCOME\tSANS\tISSUER\tNOT AFTER\tPROBLEM")
	for _, r := range results {
		notAfter := "-"
		if !r.NotAfter.IsZero() {
			notAfter = r.NotAfter.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Host, r.ClientPath, r.Outcome,
			orDash(strings.Join(r.SANs, ",")), orDash(r.Issuer), notAfter, orDash(r.Detail))
	}
	return tw.Flush()
}
