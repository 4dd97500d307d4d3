package gitops

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// splice replaces the lines [from, to) of a file (0-based) with lines.
type splice struct {
	from, to int
	lines    []string
}

// apply makes the text splices of one edit to document d of f, whose node
// tree the caller has already edited. It then parses the file again and
// checks that the document decodes to the same value as the edited tree.
// On a mismatch it restores the text and returns an error. With removed
// set, the edit deletes the document, so only the document count is
// checked.
func apply(f *file, d *document, removed bool, splices []splice) error {
	var want any
	if !removed {
		if err := d.root.Decode(&want); err != nil {
			err = fmt.Errorf("%s: decode edited document: %w", f.path, err)
			reparseOnError(f, &err)
			return err
		}
	}

	before, docsBefore := f.lines, len(f.docs)
	lines := append([]string(nil), f.lines...)
	sort.Slice(splices, func(i, j int) bool { return splices[i].from > splices[j].from })
	for _, s := range splices {
		tail := append([]string(nil), lines[s.to:]...)
		lines = append(append(lines[:s.from], s.lines...), tail...)
	}
	f.lines = lines

	restore := func(err error) error {
		f.lines = before
		if perr := f.parse(); perr != nil {
			return fmt.Errorf("%w (and restoring the file failed: %v)", err, perr)
		}
		return err
	}

	if err := f.parse(); err != nil {
		return restore(fmt.Errorf("edit produced invalid YAML: %w", err))
	}
	if removed {
		if len(f.docs) != docsBefore-1 && !(docsBefore == 1 && len(f.docs) == 1 && f.docs[0].root == nil) {
			return restore(fmt.Errorf("%s: removing document %d left %d documents of %d", f.path, d.index+1, len(f.docs), docsBefore))
		}
		return nil
	}

	var got any
	if d.index < len(f.docs) && f.docs[d.index].root != nil {
		if err := f.docs[d.index].root.Decode(&got); err != nil {
			return restore(fmt.Errorf("%s: decode spliced document: %w", f.path, err))
		}
	}
	if !reflect.DeepEqual(want, got) {
		return restore(fmt.Errorf("%s: the spliced text of document %d does not decode to the edited document; the file is left unchanged", f.path, d.index+1))
	}
	return nil
}

// subtree returns every node reachable from roots without following
// aliases.
func subtree(roots ...*yaml.Node) map[*yaml.Node]bool {
	out := map[*yaml.Node]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || out[n] {
			return
		}
		out[n] = true
		for _, c := range n.Content {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return out
}

// lineSpan returns the 0-based line range [from, to) taken by nodes, which
// are a sequence item or a mapping key and value in a block collection.
// The range runs from the first node's line up to the next node of the
// document that is not one of theirs. Trailing blank and comment-only
// lines stay outside, and so do comment lines above the first node.
func lineSpan(f *file, d *document, nodes ...*yaml.Node) (int, int) {
	from := nodes[0].Line - 1
	before := f.lines[from][:min(nodes[0].Column-1, len(f.lines[from]))]
	if nodes[0].Kind != yaml.ScalarNode && strings.TrimSpace(before) == "" && from > d.first && strings.TrimSpace(f.lines[from-1]) == "-" {
		// A sequence item written as a lone "-" line starts above its node.
		from--
	}
	own := subtree(nodes...)
	to := d.last + 1
	for n := range subtree(d.root) {
		if !own[n] && n.Line-1 > from && n.Line-1 < to {
			to = n.Line - 1
		}
	}
	for to > from+1 {
		t := strings.TrimSpace(f.lines[to-1])
		if t != "" && !strings.HasPrefix(t, "#") {
			break
		}
		to--
	}
	return from, to
}

// indentStep returns the indentation step of a document: the column
// difference between the first block mapping key with a block mapping
// value and that value's first key. It falls back to 2.
func indentStep(d *document) int {
	step := 0
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || step > 0 || n.Kind != yaml.MappingNode || n.Style&yaml.FlowStyle != 0 {
			return
		}
		for i := 0; i+1 < len(n.Content) && step == 0; i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Line > k.Line {
				step = v.Content[0].Column - k.Column
				return
			}
			walk(v)
		}
	}
	walk(d.root)
	if step <= 0 {
		return 2
	}
	return step
}

// render encodes n in block style with the given step and prefixes every
// line with indent spaces.
func render(n *yaml.Node, indent, step int) ([]string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(step)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	pad := strings.Repeat(" ", indent)
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return lines, nil
}

// renderItem renders n as a block sequence item whose dash is at column
// dash (0-based) and whose content starts two columns later.
func renderItem(n *yaml.Node, dash, step int) ([]string, error) {
	lines, err := render(n, dash+2, step)
	if err != nil {
		return nil, err
	}
	lines[0] = strings.Repeat(" ", dash) + "- " + lines[0][dash+2:]
	return lines, nil
}

// renderPair renders key: value as block mapping lines at indent.
func renderPair(key string, value *yaml.Node, indent, step int) ([]string, error) {
	m := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{strNode(key), value}}
	return render(m, indent, step)
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// scalarToken returns the 0-based column range of the single-line scalar n
// on its line.
func scalarToken(line string, n *yaml.Node) (int, int, error) {
	start := n.Column - 1
	if start >= len(line) {
		return 0, 0, fmt.Errorf("line %d: no scalar at column %d", n.Line, n.Column)
	}
	switch n.Style &^ yaml.FlowStyle {
	case yaml.DoubleQuotedStyle:
		for i := start + 1; i < len(line); i++ {
			switch line[i] {
			case '\\':
				i++
			case '"':
				return start, i + 1, nil
			}
		}
	case yaml.SingleQuotedStyle:
		for i := start + 1; i < len(line); i++ {
			if line[i] == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i++
					continue
				}
				return start, i + 1, nil
			}
		}
	case 0, yaml.TaggedStyle:
		if strings.HasPrefix(line[start:], n.Value) {
			return start, start + len(n.Value), nil
		}
	}
	return 0, 0, fmt.Errorf("line %d: the scalar %q is not a single-line plain or quoted scalar", n.Line, n.Value)
}

// replaceScalar returns the splice that sets the single-line scalar n to
// value in the style n was written in.
func replaceScalar(f *file, n *yaml.Node, value string) (splice, error) {
	i := n.Line - 1
	from, to, err := scalarToken(f.lines[i], n)
	if err != nil {
		return splice{}, fmt.Errorf("%s: %w", f.path, err)
	}
	style := n.Style &^ (yaml.FlowStyle | yaml.TaggedStyle)
	out, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, Style: style})
	if err != nil {
		return splice{}, err
	}
	token := strings.TrimSuffix(string(out), "\n")
	if strings.Contains(token, "\n") {
		return splice{}, fmt.Errorf("%s:%d: value %q does not fit on one line", f.path, n.Line, value)
	}
	line := f.lines[i][:from] + token + f.lines[i][to:]
	return splice{from: i, to: i + 1, lines: []string{line}}, nil
}

// dashColumn returns the 0-based column of the dash of the block sequence
// item n.
func dashColumn(f *file, n *yaml.Node) (int, error) {
	line := f.lines[n.Line-1]
	c := strings.LastIndex(line[:min(n.Column-1, len(line))], "-")
	if c < 0 && n.Line >= 2 {
		prev := f.lines[n.Line-2]
		if strings.TrimSpace(prev) == "-" {
			return strings.Index(prev, "-"), nil
		}
	}
	if c < 0 {
		return 0, fmt.Errorf("%s:%d: no sequence dash before the item", f.path, n.Line)
	}
	return c, nil
}
