// Package gitops writes migration steps as edits to the manifests of a
// GitOps repository instead of applying them to the cluster, because Flux
// and Argo CD revert changes made directly to the objects they manage.
//
// Every edit is made twice: on the yaml.v3 node tree of the document, which
// defines the expected result, and as a line splice of the file text, which
// is what gets written. After each splice the file is parsed again and the
// edited document must decode to the same value as the edited node tree,
// so a wrong splice is an error instead of a bad commit. Lines outside the
// spliced ranges stay byte-identical, with their comments, blank lines,
// anchors and quoting.
package gitops

import (
	"fmt"
	"github.com/certwave/certwave/topology"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Options configures Open.
type Options struct {
	// Vars are Flux post-build substitution variables, for example
	// SECRET_DOMAIN=example.com. Open uses them to match names written as
	// ${VAR} to the substituted names of a plan, and the edits write a
	// value containing a variable's value back in the ${VAR} form, so a
	// domain kept secret in the cluster stays out of the repository.
	Vars map[string]string
}

// Repo is a GitOps tree opened for editing. Edits change the in-memory
// text only; Diff shows them and Write saves them.
type Repo struct {
	root  string
	vars  map[string]string
	files map[string]*file
	// paths are the keys of files, sorted.
	paths []string
	// invalid are the files that are not valid YAML, such as Helm chart
	// templates, with the parse error. Lookups skip them.
	invalid map[string]error
	// namespaces maps a folder (slash-separated, relative to root) to the
	// namespace its manifests are applied in, when the tree sets one.
	namespaces map[string]string
	// routeOrigins are the places routes were read from (UseRouteOrigins).
	routeOrigins map[string]topology.Origin
	// removed are the Certificates RemoveCertificate took out, whose
	// reflection RemoveReflection then has nothing to remove from.
	removed map[string]bool
}

// file is one YAML file: its original bytes and its current lines.
type file struct {
	path  string
	orig  []byte
	lines []string
	final bool // the text ends with a newline
	// crlf is set when every line ends with "\r\n"; lines then hold the
	// text without the "\r".
	crlf    bool
	deleted bool
	docs    []*document
}

// document is one YAML document of a file.
type document struct {
	index int
	// first and last are the 0-based line indexes of the document's
	// content, separators excluded. sep is the index of the "---" line
	// before it, or -1.
	first, last, sep int
	root             *yaml.Node // the top-level node, nil for an empty document
	kind, apiVersion string
	name, namespace  string
}

// Open reads every *.yaml and *.yml file under dir. Files that are not
// valid YAML, such as Helm chart templates, are skipped, and a failed
// lookup names them.
func Open(dir string, opts ...Options) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := &Repo{root: abs, files: map[string]*file{}, invalid: map[string]error{}, namespaces: map[string]string{}, removed: map[string]bool{}}
	for _, o := range opts {
		r.vars = o.Vars
	}
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			return err
		}
		f := &file{path: filepath.ToSlash(rel), orig: data}
		f.setText(string(data))
		if err := f.parse(); err != nil {
			r.invalid[f.path] = err
			return nil
		}
		r.files[f.path] = f
		r.paths = append(r.paths, f.path)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open GitOps tree %s: %w", dir, err)
	}
	sort.Strings(r.paths)
	r.readNamespaces()
	return r, nil
}

func (f *file) setText(text string) {
	f.crlf = strings.Contains(text, "\r\n") && strings.Count(text, "\r\n") == strings.Count(text, "\n")
	if f.crlf {
		text = strings.ReplaceAll(text, "\r\n", "\n")
	}
	f.final = strings.HasSuffix(text, "\n")
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		f.lines = nil
		return
	}
	f.lines = strings.Split(text, "\n")
}

func (f *file) text() string {
	eol := "\n"
	if f.crlf {
		eol = "\r\n"
	}
	s := strings.Join(f.lines, eol)
	if f.final && len(f.lines) > 0 {
		s += eol
	}
	return s
}

// separator matches a document start marker line.
var separator = regexp.MustCompile(`^---(\s.*)?$`)

// parse splits the file into documents at "---" lines and parses each one
// on its own, so that every document's line range is known exactly. Node
// lines are shifted to 1-based lines of the whole file.
func (f *file) parse() error {
	f.docs = nil
	start, sep := 0, -1
	flush := func(end int) error {
		d := &document{index: len(f.docs), first: start, last: end - 1, sep: sep}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(strings.Join(f.lines[start:end], "\n")), &n); err != nil {
			return fmt.Errorf("%s: document %d: %w", f.path, d.index+1, err)
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			d.root = n.Content[0]
			shiftLines(d.root, start, map[*yaml.Node]bool{})
			d.readMeta()
		}
		f.docs = append(f.docs, d)
		return nil
	}
	for i, l := range f.lines {
		if separator.MatchString(l) {
			if i > 0 {
				if err := flush(i); err != nil {
					return err
				}
			}
			start, sep = i+1, i
		}
	}
	return flush(len(f.lines))
}

func shiftLines(n *yaml.Node, by int, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by, seen)
	}
}

func (d *document) readMeta() {
	if d.root.Kind != yaml.MappingNode {
		return
	}
	d.kind = scalar(get(d.root, "kind"))
	d.apiVersion = scalar(get(d.root, "apiVersion"))
	meta := get(d.root, "metadata")
	d.name = scalar(get(meta, "name"))
	d.namespace = scalar(get(meta, "namespace"))
}

// get returns the value of key in mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	_, v := pair(m, key)
	return v
}

// pair returns the key and value nodes of key in mapping m.
func pair(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m != nil && m.Kind == yaml.AliasNode {
		m = m.Alias
	}
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// scalar returns the value of a scalar node, following an alias; empty for
// anything else.
func scalar(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// readNamespaces records the namespace of each folder: the targetNamespace
// of the Flux Kustomization whose spec.path is the folder, else the
// namespace field of the folder's kustomization.yaml.
func (r *Repo) readNamespaces() {
	for _, p := range r.paths {
		f := r.files[p]
		for _, d := range f.docs {
			if d.kind != "Kustomization" || d.root == nil {
				continue
			}
			dir := pathDir(p)
			if strings.HasPrefix(d.apiVersion, "kustomize.config.k8s.io/") {
				if ns := scalar(get(d.root, "namespace")); ns != "" {
					if _, set := r.namespaces["kustomize:"+dir]; !set {
						r.namespaces["kustomize:"+dir] = ns
					}
				}
				continue
			}
			spec := get(d.root, "spec")
			ns := scalar(get(spec, "targetNamespace"))
			if ns == "" {
				continue
			}
			if target, ok := r.fluxPath(scalar(get(spec, "path"))); ok {
				r.namespaces["flux:"+target] = ns
			}
		}
	}
}

// fluxPath maps a Flux Kustomization's spec.path, which is relative to the
// Git repository root, to a folder under r.root. r.root may be a subfolder
// of the repository, so leading components are dropped until the folder
// exists.
func (r *Repo) fluxPath(p string) (string, bool) {
	p = strings.Trim(strings.TrimPrefix(p, "./"), "/")
	for p != "" {
		if st, err := os.Stat(filepath.Join(r.root, filepath.FromSlash(p))); err == nil && st.IsDir() {
			return p, true
		}
		_, rest, ok := strings.Cut(p, "/")
		if !ok {
			break
		}
		p = rest
	}
	return "", false
}

// namespaceOf returns the namespace a document is applied in: a Flux
// targetNamespace for an enclosing folder wins over the nearest enclosing
// kustomization.yaml namespace, which wins over metadata.namespace. Empty
// means the namespace cannot be derived from the tree.
// NOTE: a kustomization.yaml namespace counts for every file below its
// folder, even a file the kustomization does not list.
func (r *Repo) namespaceOf(path string, d *document) string {
	for dir := pathDir(path); ; dir = pathDir(dir) {
		if ns, ok := r.namespaces["flux:"+dir]; ok {
			return ns
		}
		if dir == "" {
			break
		}
	}
	for dir := pathDir(path); ; dir = pathDir(dir) {
		if ns, ok := r.namespaces["kustomize:"+dir]; ok {
			return ns
		}
		if dir == "" {
			break
		}
	}
	return d.namespace
}

// pathDir returns the folder of a slash-separated relative path, "" for
// the root.
func pathDir(p string) string {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return ""
	}
	return p[:i]
}
