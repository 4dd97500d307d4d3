package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/internal/kubecluster"
	"github.com/certwave/certwave/topology"
)

// sourceFlags select where the inventory comes from.
type sourceFlags struct {
	fromDir    string
	kubeconfig string
	context    string
	reference  bool
	set        []string
	// loadedContext is the context load read a live cluster through, or
	// empty for the other sources.
	loadedContext string
}

func (f *sourceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.fromDir, "from-dir", "", "read a GitOps tree (a repository root or a folder holding kubernetes/) as Flux would apply it")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "read a live cluster through this kubeconfig file (read-only)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	fl.BoolVar(&f.reference, "reference", false, "use the built-in reference topology (4 Gateways, 72 routes)")
	fl.StringArrayVar(&f.set, "set", nil, "value of a Flux post-build variable, KEY=VALUE; repeatable; overrides cluster-config ConfigMaps in the tree")
}

// load reads the inventory from exactly one source.
func (f *sourceFlags) load(ctx context.Context) (*topology.Inventory, error) {
	n := 0
	for _, set := range []bool{f.fromDir != "", f.kubeconfig != "", f.reference} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("choose exactly one input: --from-dir DIR, --kubeconfig FILE or --reference")
	}
	vars, err := parseSetFlags(f.set)
	if err != nil {
		return nil, err
	}
	switch {
	case f.reference:
		return topology.Reference(), nil
	case f.fromDir != "":
		info, err := os.Stat(f.fromDir)
		if err != nil {
			return nil, fmt.Errorf("--from-dir %s: directory not found: give the GitOps repository root or its kubernetes/ folder", f.fromDir)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("--from-dir %s is a file, not a directory: give the GitOps repository root or its kubernetes/ folder", f.fromDir)
		}
		return topology.LoadGitOps(f.fromDir, topology.GitOpsOptions{Vars: vars})
	default:
		c, name, err := clusterClient(f.kubeconfig, f.context)
		if err != nil {
			return nil, err
		}
		f.loadedContext = name
		inv, err := topology.LoadCluster(ctx, c, name)
		if err != nil {
			return nil, fmt.Errorf("reading the inventory from context %s: %w; check that the cluster runs, that the kubeconfig reaches it, "+
				"and that its user may list what deploy/rbac/certwave-run.yaml grants", name, err)
		}
		return inv, nil
	}
}

// parseSetFlags turns --set KEY=VALUE flags into a map.
func parseSetFlags(flags []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid --set %q: want KEY=VALUE, for example --set SECRET_DOMAIN=example.com", kv)
		}
		vars[k] = v
	}
	return vars, nil
}

// clusterClient builds a read client for a kubeconfig and returns it with
// the name of the context it uses.
func clusterClient(kubeconfig, contextName string) (client.Client, string, error) {
	cfg, name, err := kubecluster.Load(kubeconfig, contextName)
	if err != nil {
		return nil, "", err
	}
	if err := kubecluster.CheckReachable(cfg, name, kubeconfig); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: topology.Scheme()})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to context %s: %w", name, err)
	}
	return c, name, nil
}
