package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Builtin holds the scenario files shipped with certwave.
//
//go:embed *.yaml
var Builtin embed.FS

// Duration is a time.Duration written as a Go duration (36h, 90m) or as a
// number of days with a d suffix (14d, 1.5d).
type Duration time.Duration

// UnmarshalYAML parses a Go duration or a day count.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a Go duration or a day count such as 14d.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(days, 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("invalid duration %q: want a Go duration such as 36h or days such as 14d", s)
		}
		return time.Duration(f * float64(24*time.Hour)), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q: want a Go duration such as 36h or days such as 14d", s)
	}
	return v, nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Parse decodes and validates one scenario file. Errors name the file, the
// line and the field.
func Parse(file string, data []byte) (*Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty scenario file", file)
	}
	// Unknown fields first, all of them: the decoder stops at its first
	// section with one, and the inline inventory is not decoded here.
	fields := &validator{root: root.Content[0]}
	fields.checkFields(root.Content[0])
	if len(fields.errs) > 0 {
		return nil, fileErrors(file, fields.errs)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, errors.New(friendlyDecodeError(file, err))
	}
	s.File = file
	if errs := validate(&s, root.Content[0]); len(errs) > 0 {
		return nil, fileErrors(file, errs)
	}
	return &s, nil
}

// fileErrors prefixes each validation error with the file name.
func fileErrors(file string, errs []string) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = fmt.Sprintf("%s:%s", file, e)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// LoadFile reads and validates one scenario file.
func LoadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// LoadDir reads every *.yaml scenario of dir, sorted by name, and fails on
// the first invalid file. Two scenarios with one name are an error.
func LoadDir(fsys fs.FS, dir string) ([]*Scenario, error) {
	paths, err := fs.Glob(fsys, filepath.ToSlash(filepath.Join(dir, "*.yaml")))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no scenario files (*.yaml) in %s", dir)
	}
	sort.Strings(paths)
	var out []*Scenario
	names := map[string]string{}
	var errs []string
	for _, p := range paths {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		s, err := Parse(p, data)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if prev, ok := names[s.Name]; ok {
			errs = append(errs, fmt.Sprintf("%s: scenario name %q already used by %s", p, s.Name, prev))
			continue
		}
		names[s.Name] = p
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return out, nil
}

// decodeLine matches one error of the YAML decoder with its line.
var decodeLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// friendlyDecodeError renders the decoder's errors as "FILE:LINE: ...",
// the form of the validation errors. Unknown fields never reach the
// decoder: checkFields reports them first.
func friendlyDecodeError(file string, err error) string {
	msg := strings.TrimSpace(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n"))
	var out []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if parts := decodeLine.FindStringSubmatch(line); parts != nil {
			out = append(out, fmt.Sprintf("%s:%s: %s", file, parts[1], parts[2]))
			continue
		}
		out = append(out, file+": "+line)
	}
	return strings.Join(out, "\n")
}
