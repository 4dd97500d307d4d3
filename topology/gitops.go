package topology

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// GitOpsOptions configures LoadGitOps.
type GitOpsOptions struct {
	// Vars are Flux substitution variables given on the command line
	// (--set KEY=VALUE). They override the tree's values in every Flux
	// Kustomization.
	Vars map[string]string
}

// LoadGitOps builds the inventory of a Flux GitOps repository from what
// Flux would apply. It starts at the Flux Kustomizations under
// kubernetes/flux, renders their kustomize folders and follows the Flux
// Kustomizations those produce. From the result it reads Gateways,
// HTTPRoutes (with the routes known Helm charts render from HelmRelease
// values), Certificates, issuers, reflector Secrets, the cert-manager
// HelmRelease and cloudflared tunnel settings. dir is the repository root
// or the kubernetes folder itself.
//
// Flux post-build variables are substituted only in the fields the
// inventory reads; their values come from the ConfigMaps named
// cluster-config and cluster-settings, each Flux Kustomization's
// postBuild.substitute and substituteFrom ConfigMaps, and opts.Vars, which
// win. A read field that needs a variable without a value is an error
// naming file, line and variable.
func LoadGitOps(dir string, opts GitOpsOptions) (*Inventory, error) {
	l, err := renderGitOps(dir, opts)
	if err != nil {
		return nil, err
	}
	inv, err := l.buildInventory()
	if err != nil {
		return nil, err
	}
	inv.Source = "gitops:" + dir
	inv.Finalize()
	return inv, nil
}

// renderGitOps renders every object Flux would apply from the tree in dir.
func renderGitOps(dir string, opts GitOpsOptions) (*gitopsLoader, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	root, kube, err := findGitOpsRoot(abs)
	if err != nil {
		return nil, err
	}
	l := &gitopsLoader{
		renderer: kustomizeRenderer{root: root, base: abs},
		opts:     opts,
	}
	if err := l.scanConfigMaps(kube); err != nil {
		return nil, err
	}
	if err := l.renderEntries(filepath.Join(kube, "flux")); err != nil {
		return nil, err
	}
	return l, nil
}

// findGitOpsRoot returns the repository root (the folder holding
// kubernetes/) and the kubernetes folder. dir may also be the kubernetes
// folder itself.
func findGitOpsRoot(dir string) (root, kube string, err error) {
	if isDir(filepath.Join(dir, "kubernetes", "flux")) {
		return dir, filepath.Join(dir, "kubernetes"), nil
	}
	if filepath.Base(dir) == "kubernetes" && isDir(filepath.Join(dir, "flux")) {
		return filepath.Dir(dir), dir, nil
	}
	return "", "", fmt.Errorf("%s: no kubernetes/flux folder; pass the repository root or a folder holding kubernetes/", dir)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// fluxScope is the Flux Kustomization that applies a set of objects, with
// the variables its post-build substitution uses.
type fluxScope struct {
	name string // namespace/name, for messages
	vars map[string]string
}

func (s *fluxScope) lookup(name string) (string, bool) {
	if s == nil {
		return "", false
	}
	v, ok := s.vars[name]
	return v, ok
}

// gitopsLoader holds the state of one LoadGitOps call.
type gitopsLoader struct {
	renderer kustomizeRenderer
	opts     GitOpsOptions
	// configMaps are the data of every v1 ConfigMap under kubernetes/ by
	// name, for cluster-config, cluster-settings and substituteFrom.
	configMaps map[string]map[string]string
	// clusterVars are the variables every Flux Kustomization gets, as the
	// tree's substitution webhook injects cluster-config into each one.
	clusterVars map[string]string
	objects     []*renderedObject
	fluxStack   []string // spec.path folders being followed, outermost first
}

// clusterVarConfigMaps are read in this order; later ones win.
var clusterVarConfigMaps = []string{"cluster-settings", "cluster-config"}

// scanConfigMaps reads every plain ConfigMap under kube. A ConfigMap named
// cluster-config counts wherever it sits in the tree, deployed or not,
// because Flux Kustomization fields may need its values before the tree is
// rendered.
func (l *gitopsLoader) scanConfigMaps(kube string) error {
	l.configMaps = map[string]map[string]string{}
	err := filepath.WalkDir(kube, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isYAMLFile(p) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		docs, err := parseYAMLDocuments(p, data)
		if err != nil {
			return nil // reported when a rendered path includes the file
		}
		for _, d := range docs {
			for _, o := range objectsFromDocument(p, d.root) {
				if o.kind != "ConfigMap" || o.apiVersion != "v1" || o.name == "" {
					continue
				}
				if _, seen := l.configMaps[o.name]; !seen {
					l.configMaps[o.name] = yamlStringMap(yamlGet(o.root, "data"))
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.clusterVars = map[string]string{}
	for _, name := range clusterVarConfigMaps {
		maps.Copy(l.clusterVars, l.configMaps[name])
	}
	return nil
}

func isYAMLFile(p string) bool {
	ext := strings.ToLower(filepath.Ext(p))
	return ext == ".yaml" || ext == ".yml"
}

// renderEntries reads the objects under kubernetes/flux (a folder with a
// kustomization is built, others contribute their YAML files) and follows
// the Flux Kustomizations among them.
func (l *gitopsLoader) renderEntries(fluxDir string) error {
	var entries []*renderedObject
	err := filepath.WalkDir(fluxDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if findKustomizationFile(p) == "" {
				return nil
			}
			objs, err := l.renderer.build(p, includeSite{file: l.renderer.relativeName(p)}, false, nil)
			if err != nil {
				return err
			}
			entries = append(entries, objs...)
			return filepath.SkipDir
		}
		if !isYAMLFile(p) {
			return nil
		}
		objs, err := l.renderer.readFile(p)
		if err != nil {
			return err
		}
		entries = append(entries, objs...)
		return nil
	})
	if err != nil {
		return err
	}
	scope := &fluxScope{name: "(bootstrap)", vars: l.scopeVars(nil)}
	return l.adopt(entries, scope)
}

// adopt records objects applied by scope and follows the Flux
// Kustomizations among them.
func (l *gitopsLoader) adopt(objs []*renderedObject, scope *fluxScope) error {
	for _, o := range objs {
		o.scope = scope
		l.objects = append(l.objects, o)
	}
	for _, o := range objs {
		if isFluxKustomization(o) {
			if err := l.follow(o); err != nil {
				return err
			}
		}
	}
	return nil
}

func isFluxKustomization(o *renderedObject) bool {
	return o.kind == "Kustomization" && strings.HasPrefix(o.apiVersion, "kustomize.toolkit.fluxcd.io/")
}

// scopeVars merges the variable sources of a Flux Kustomization: cluster
// variables, then substituteFrom ConfigMaps in order, then substitute, then
// the command line.
func (l *gitopsLoader) scopeVars(layers []map[string]string) map[string]string {
	vars := maps.Clone(l.clusterVars)
	for _, layer := range layers {
		maps.Copy(vars, layer)
	}
	maps.Copy(vars, l.opts.Vars)
	return vars
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
