package topology

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"
)

// yamlDocument is one document of a YAML file, with the file path that
// messages and origins name.
type yamlDocument struct {
	file string
	root *yaml.Node // content of the document, aliases not yet resolved
}

// yamlErrorLine finds the line number in a go.yaml.in/yaml/v3 error message
// ("yaml: line 7: ...").
var yamlErrorLine = regexp.MustCompile(`line (\d+)`)

// parseYAMLDocuments splits data into its documents. Empty documents (only
// comments or separators) are dropped. A syntax error names file and line.
func parseYAMLDocuments(file string, data []byte) ([]yamlDocument, error) {
	key := parseKey{file: file, sum: sha256.Sum256(data)}
	if cached, ok := parseCache.Load(key); ok {
		return cached.([]yamlDocument), nil
	}
	docs, err := decodeYAMLDocuments(file, data)
	if err != nil {
		return nil, err
	}
	parseCache.Store(key, docs)
	return docs, nil
}

// parseCache keeps the documents parseYAMLDocuments decoded, by file name
// and content: one load reads most files more than once (for the cluster
// variables, then for each Kustomization), and a GitOps run loads the tree
// after every commit. The loaders only read nodes (mergeValues and
// valuesAtPath build new ones), so the cached trees are shared. A test
// loads the fixture tree twice and compares the inventories.
var parseCache sync.Map

type parseKey struct {
	file string
	sum  [sha256.Size]byte
}

// decodeYAMLDocuments decodes every document of data.
func decodeYAMLDocuments(file string, data []byte) (docs []yamlDocument, err error) {
	defer func() {
		// The decoder has panicked on hostile input in past releases, and a
		// malformed file must be an error, never a crash.
		if r := recover(); r != nil {
			docs, err = nil, fmt.Errorf("%s: invalid YAML: %v", file, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, yamlSyntaxError(file, data, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		docs = append(docs, yamlDocument{file: file, root: root})
	}
}

// yamlSyntaxError names the file and the line of a decode error. The
// decoder reports the line where the enclosing block or flow collection
// starts, and for parser errors it reports it counted from 0, so the line
// of the problem is found by decoding longer prefixes of data, starting at
// that line, until one fails with the same message.
func yamlSyntaxError(file string, data []byte, err error) error {
	msg, line := splitYAMLError(err)
	if line == 0 {
		return fmt.Errorf("%s: invalid YAML: %s", file, msg)
	}
	if problem := firstFailingLine(data, msg, line); problem > 0 {
		line = problem
	}
	return fmt.Errorf("%s:%d: invalid YAML: %s", file, line, msg)
}

// splitYAMLError returns the message of a decode error and the line it
// names, or 0.
func splitYAMLError(err error) (string, int) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	m := yamlErrorLine.FindStringSubmatch(msg)
	if m == nil {
		return msg, 0
	}
	line, _ := strconv.Atoi(m[1])
	rest := strings.TrimPrefix(strings.TrimPrefix(msg, m[0]), ":")
	return strings.TrimSpace(rest), line
}

// maxLineSearch bounds the prefix decodes of firstFailingLine.
const maxLineSearch = 200

// firstFailingLine returns the smallest n >= from such that the first n
// lines of data fail to decode with msg, or 0.
func firstFailingLine(data []byte, msg string, from int) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for n := max(from, 1); n <= len(lines) && n < from+maxLineSearch; n++ {
		prefix := bytes.Join(lines[:n], nil)
		dec := yaml.NewDecoder(bytes.NewReader(prefix))
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if err == nil {
				continue
			}
			if got, _ := splitYAMLError(err); !errors.Is(err, io.EOF) && got == msg {
				return n
			}
			break
		}
	}
	return 0
}

// maxAliasDepth bounds alias chains so that a hostile document cannot loop.
const maxAliasDepth = 64

// yamlResolve follows aliases to the node they name.
func yamlResolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasDepth; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return yamlResolve(n.Content[0])
	}
	return n
}

// yamlPair is one key and value of a mapping, with aliases resolved.
type yamlPair struct {
	key   *yaml.Node
	value *yaml.Node
}

// yamlPairs lists the pairs of a mapping node. Merge keys (<<) are expanded,
// and keys written in the mapping itself win over merged ones. A repeated
// key keeps its last value. It returns nil for anything but a mapping.
func yamlPairs(n *yaml.Node) []yamlPair {
	return yamlPairsDepth(n, 0)
}

func yamlPairsDepth(n *yaml.Node, depth int) []yamlPair {
	n = yamlResolve(n)
	if n == nil || n.Kind != yaml.MappingNode || depth > maxAliasDepth {
		return nil
	}
	var merged, own []yamlPair
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := yamlResolve(n.Content[i])
		value := yamlResolve(n.Content[i+1])
		if key == nil || key.Kind != yaml.ScalarNode {
			continue
		}
		if key.Tag == "!!merge" {
			sources := []*yaml.Node{value}
			if value != nil && value.Kind == yaml.SequenceNode {
				sources = value.Content
			}
			for _, src := range sources {
				merged = append(merged, yamlPairsDepth(src, depth+1)...)
			}
			continue
		}
		own = append(own, yamlPair{key: key, value: value})
	}
	return dedupePairs(append(merged, own...))
}

// dedupePairs keeps the last value of each key at the position of its first
// appearance.
func dedupePairs(pairs []yamlPair) []yamlPair {
	index := make(map[string]int, len(pairs))
	var out []yamlPair
	for _, p := range pairs {
		if i, ok := index[p.key.Value]; ok {
			out[i] = p
			continue
		}
		index[p.key.Value] = len(out)
		out = append(out, p)
	}
	return out
}

// yamlGet returns the value under key in a mapping, or nil.
func yamlGet(n *yaml.Node, key string) *yaml.Node {
	for _, p := range yamlPairs(n) {
		if p.key.Value == key {
			return p.value
		}
	}
	return nil
}

// yamlDig walks a path of mapping keys.
func yamlDig(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = yamlGet(n, k)
		if n == nil {
			return nil
		}
	}
	return n
}

// yamlItems lists the items of a sequence node with aliases resolved. It
// returns nil for anything else.
func yamlItems(n *yaml.Node) []*yaml.Node {
	n = yamlResolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, 0, len(n.Content))
	for _, item := range n.Content {
		if item = yamlResolve(item); item != nil {
			out = append(out, item)
		}
	}
	return out
}

// yamlScalar returns the text of a scalar node and whether n is a non-null
// scalar.
func yamlScalar(n *yaml.Node) (string, bool) {
	n = yamlResolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// yamlIsMap reports whether n is a mapping node.
func yamlIsMap(n *yaml.Node) bool {
	n = yamlResolve(n)
	return n != nil && n.Kind == yaml.MappingNode
}

// yamlLine returns the line of a node, or fallback when the node is nil.
func yamlLine(n *yaml.Node, fallback int) int {
	if n == nil || n.Line == 0 {
		return fallback
	}
	return n.Line
}

// yamlTruthy applies YAML 1.1/1.2 boolean rules to text that came from a
// plain scalar, the way Helm reads a value after Flux substituted it.
func yamlTruthy(text string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "true", "yes", "on", "y":
		return true, true
	case "false", "no", "off", "n", "", "null", "~":
		return false, true
	}
	return false, false
}
