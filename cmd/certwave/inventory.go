package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// inventoryView is the -o json|yaml contract of `certwave inventory`:
// scripts rely on gateways[].{namespace,name,class,listeners[]} with
// listeners[].{name,protocol,port,hostname,routes[]} and findings[] with
// {id,severity,objects[]}. Add fields; never rename or remove them.
type inventoryView struct {
	Source      string                `json:"source"`
	Domain      string                `json:"domain,omitempty"`
	CertManager topology.CertManager  `json:"certManager"`
	Gateways    []gatewayView         `json:"gateways"`
	Findings    []plan.Finding        `json:"findings"`
	ClientPaths []topology.ClientPath `json:"clientPaths,omitempty"`
	Skipped     map[string]int        `json:"skipped,omitempty"`
}

type gatewayView struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Class     string         `json:"class"`
	Cohort    string         `json:"cohort"`
	Listeners []listenerView `json:"listeners"`
}

type listenerView struct {
	Name     string   `json:"name"`
	Protocol string   `json:"protocol"`
	Port     int32    `json:"port"`
	Hostname string   `json:"hostname"`
	TLSMode  string   `json:"tlsMode,omitempty"`
	Secrets  []string `json:"secrets,omitempty"`
	Routes   []string `json:"routes"`
}

func newInventoryCommand() *cobra.Command {
	var src sourceFlags
	var output string
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "List Gateways, listeners, the routes bound to each listener, cohorts and preflight findings",
		Example: `  certwave inventory --from-dir ./home-ops --set SECRET_DOMAIN=example.com
  certwave inventory --kubeconfig ~/.kube/config --context prod -o json
  certwave inventory --reference`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output, formatTable, formatJSON, formatYAML); err != nil {
				return err
			}
			inv, err := src.load(cmd.Context())
			if err != nil {
				return err
			}
			view := buildInventoryView(inv)
			if output == formatTable {
				return writeInventoryTable(cmd.OutOrStdout(), &view)
			}
			return writeStructured(cmd.OutOrStdout(), output, view)
		},
	}
	src.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", formatTable, "output format: table, json or yaml")
	return cmd
}

func buildInventoryView(inv *topology.Inventory) inventoryView {
	opts := plan.DefaultOptions(defaultStart())
	opts.Force = true
	p, err := plan.New(inv, opts)
	cohortOf := map[string]string{}
	if err == nil {
		for _, c := range p.Cohorts {
			for _, gw := range c.Gateways {
				cohortOf[gw] = c.Name
			}
		}
	}

	routesOf := map[string][]string{}
	for _, a := range inv.Attachments() {
		key := a.Gateway + "/" + a.Listener
		routesOf[key] = append(routesOf[key], a.Route)
	}

	view := inventoryView{
		Source:      inv.Source,
		Domain:      inv.Domain,
		CertManager: inv.CertManager,
		Findings:    plan.Preflight(inv, opts),
		ClientPaths: inv.ClientPaths,
		Skipped:     inv.Skipped,
	}
	for _, gw := range inv.Gateways {
		gv := gatewayView{
			Namespace: gw.Namespace, Name: gw.Name, Class: gw.Class,
			Cohort: cohortOf[gw.Namespace+"/"+gw.Name],
		}
		for _, l := range gw.Listeners {
			lv := listenerView{
				Name: l.Name, Protocol: l.Protocol, Port: l.Port, Hostname: l.Hostname, TLSMode: l.TLSMode,
				Routes: routesOf[gw.Namespace+"/"+gw.Name+"/"+l.Name],
			}
			if lv.Routes == nil {
				lv.Routes = []string{}
			}
			for _, ref := range l.CertificateRefs {
				ns := ref.Namespace
				if ns == "" {
					ns = gw.Namespace
				}
				lv.Secrets = append(lv.Secrets, ns+"/"+ref.Name)
			}
			gv.Listeners = append(gv.Listeners, lv)
		}
		view.Gateways = append(view.Gateways, gv)
	}
	if view.Findings == nil {
		view.Findings = []plan.Finding{}
	}
	return view
}

func writeInventoryTable(w io.Writer, v *inventoryView) error {
	fmt.Fprintf(w, "Source: %s", v.Source)
	if v.Domain != "" {
		fmt.Fprintf(w, "   Domain: %s", v.Domain)
	}
	fmt.Fprintln(w)
	cm := "not found"
	if v.CertManager.Found {
		cm = fmt.Sprintf("%s, Gateway API support %s", orDash(v.CertManager.Version), enabledWord(v.CertManager.GatewayAPIEnabled))
	}
	fmt.Fprintf(w, "cert-manager: %s\n\n", cm)

	routes := 0
	for _, gw := range v.Gateways {
		fmt.Fprintf(w, "Gateway %s/%s  class=%s  cohort=%s\n", gw.Namespace, gw.Name, gw.Class, orDash(gw.Cohort))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  LISTENER\tPROTOCOL\tPORT\tHOSTNAME\tSECRET\tROUTES")
		for _, l := range gw.Listeners {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%d\n", l.Name, l.Protocol, l.Port, orDash(l.Hostname), orDash(strings.Join(l.Secrets, ",")), len(l.Routes))
		}
		tw.Flush()
		for _, l := range gw.Listeners {
			for _, r := range l.Routes {
				fmt.Fprintf(w, "    %s <- %s\n", l.Name, r)
				routes++
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d Gateways, %d route attachments\n", len(v.Gateways), routes)

	if len(v.Skipped) > 0 {
		kinds := make([]string, 0, len(v.Skipped))
		total := 0
		for k, n := range v.Skipped {
			kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
			total += n
		}
		sort.Strings(kinds)
		fmt.Fprintf(w, "Skipped %d documents of kinds the inventory does not read (%s)\n", total, strings.Join(kinds, ", "))
	}
	fmt.Fprintln(w)
	writeFindings(w, v.Findings)
	return nil
}

func writeFindings(w io.Writer, findings []plan.Finding) {
	if len(findings) == 0 {
		fmt.Fprintln(w, "Findings: none")
		return
	}
	fmt.Fprintf(w, "Findings (%d):\n", len(findings))
	for _, f := range findings {
		fmt.Fprintf(w, "  [%s] %s: %s\n", f.Severity, f.ID, f.Summary)
		for _, o := range f.Objects {
			fmt.Fprintf(w, "      object: %s\n", o)
		}
		if f.Mechanism != "" {
			fmt.Fprintf(w, "      why: %s\n", f.Mechanism)
		}
		if f.Fix != "" {
			fmt.Fprintf(w, "      fix: %s\n", f.Fix)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func enabledWord(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}
