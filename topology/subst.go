package topology

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file implements Flux post-build variable substitution as the
// kustomize-controller does it (github.com/fluxcd/pkg/envsubst, a fork of
// drone/envsubst): ${VAR}, ${VAR:-default}, ${VAR:=default} and the other
// bash parameter expansions below. Only the ${...} form is expanded; a bare
// $VAR stays as written, and $$ is an escaped $.
//
// Supported: ${#v} length, ${v^} ${v^^} ${v,} ${v,,} case, ${v:off}
// ${v:off:len} substring, ${v=d} ${v:=d} ${v:-d} ${v:?d} ${v:+d} (all return
// d when v is unset or empty, as the fork does), ${v/p/r} first match,
// ${v//p/r} every match, ${v/#p/r} prefix, ${v/%p/r} suffix (literal
// patterns), and ${v#g} ${v##g} ${v%g} ${v%%g} glob trims. ${v-d} is a
// syntax error in the fork and here.
//
// Differences from the fork, on purpose: a default is evaluated only when it
// is used, so ${A:-${B}} with A set does not need B; and every unset
// variable outside a default is an error (the fork's strict mode), since a
// field the inventory reads must not silently become empty.

// undefinedVariableError reports a variable that a substitution needs and
// that has no value.
type undefinedVariableError struct {
	Name string
}

func (e *undefinedVariableError) Error() string {
	return "variable " + e.Name + " is not set"
}

// maxSubstDepth bounds nested ${...} expressions.
const maxSubstDepth = 64

// substituteVars expands the ${...} expressions in s. lookup returns a
// variable's value and whether it is set.
func substituteVars(s string, lookup func(name string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	p := &substParser{src: s, lookup: lookup}
	out, err := p.text(stopNone, true, 0)
	if err != nil {
		return "", err
	}
	if p.pos < len(p.src) {
		return "", p.errorf("unexpected %q", p.src[p.pos])
	}
	return out, nil
}

// substParser reads one string. When eval is false in a call, expressions
// are parsed but not looked up, which is how unused defaults are skipped.
type substParser struct {
	src    string
	pos    int
	lookup func(string) (string, bool)
}

// Stop sets: the characters that end a piece of text in each context.
const (
	stopNone      = ""
	stopBrace     = "}"
	stopSlash     = "/"
	stopColonOrBr = ":}"
)

func (p *substParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid substitution in %q at offset %d: %s", p.src, p.pos, fmt.Sprintf(format, args...))
}

// text reads literal text and nested expressions until a character of stop
// (not consumed) or the end. escapes turns on $$ and, inside replacements,
// \/ and \\.
func (p *substParser) text(stop string, eval bool, depth int) (string, error) {
	return p.textEscapes(stop, eval, depth, stop == stopNone, false)
}

func (p *substParser) textEscapes(stop string, eval bool, depth int, dollarEscape, slashEscape bool) (string, error) {
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if stop != stopNone && strings.IndexByte(stop, c) >= 0 {
			return b.String(), nil
		}
		rest := p.src[p.pos:]
		switch {
		case dollarEscape && strings.HasPrefix(rest, "$$"):
			b.WriteByte('$')
			p.pos += 2
		case slashEscape && (strings.HasPrefix(rest, `\/`) || strings.HasPrefix(rest, `\\`)):
			b.WriteByte(rest[1])
			p.pos += 2
		case strings.HasPrefix(rest, "${"):
			p.pos += 2
			v, err := p.expression(eval, depth+1)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	if stop != stopNone {
		return "", p.errorf("missing closing brace")
	}
	return b.String(), nil
}

func (p *substParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *substParser) closeBrace() error {
	if p.peek() != '}' {
		return p.errorf("missing closing brace")
	}
	p.pos++
	return nil
}

func (p *substParser) identifier() string {
	start := p.pos
	for p.pos < len(p.src) {
		r, size := utf8.DecodeRuneInString(p.src[p.pos:])
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			break
		}
		p.pos += size
	}
	return p.src[start:p.pos]
}

// value looks a variable up. An unset variable is an error when the caller
// needs its value.
func (p *substParser) value(name string, eval bool) (string, error) {
	if !eval {
		return "", nil
	}
	v, ok := p.lookup(name)
	if !ok {
		return "", &undefinedVariableError{Name: name}
	}
	return v, nil
}

// expression reads what follows "${" up to and including the closing brace.
func (p *substParser) expression(eval bool, depth int) (string, error) {
	if depth > maxSubstDepth {
		return "", p.errorf("expressions nested more than %d deep", maxSubstDepth)
	}
	if p.peek() == '#' {
		p.pos++
		name := p.identifier()
		if name == "" {
			return "", p.errorf("missing variable name after ${#")
		}
		v, err := p.value(name, eval)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(len(v)), p.closeBrace()
	}
	name := p.identifier()
	if name == "" {
		return "", p.errorf("missing variable name")
	}
	switch p.peek() {
	case '}':
		p.pos++
		return p.value(name, eval)
	case ':':
		if p.pos+1 < len(p.src) && strings.IndexByte("=-?+", p.src[p.pos+1]) >= 0 {
			p.pos += 2
			return p.defaultExpression(name, eval, depth)
		}
		p.pos++
		return p.substring(name, eval, depth)
	case '=':
		p.pos++
		return p.defaultExpression(name, eval, depth)
	case ',', '^':
		return p.casing(name, eval)
	case '/':
		return p.replace(name, eval, depth)
	case '#', '%':
		return p.trim(name, eval, depth)
	}
	return "", p.errorf("missing closing brace")
}

// defaultExpression returns the variable when it is set and not empty, else
// the default text, which is only evaluated in that case.
func (p *substParser) defaultExpression(name string, eval bool, depth int) (string, error) {
	v, set := "", false
	if eval {
		v, set = p.lookup(name)
	}
	useDefault := eval && (!set || v == "")
	def, err := p.text(stopBrace, useDefault, depth)
	if err != nil {
		return "", err
	}
	if err := p.closeBrace(); err != nil {
		return "", err
	}
	if useDefault {
		return def, nil
	}
	return v, nil
}

func (p *substParser) casing(name string, eval bool) (string, error) {
	start := p.pos
	for p.pos < len(p.src) && p.pos-start < 2 && (p.src[p.pos] == ',' || p.src[p.pos] == '^') {
		p.pos++
	}
	op := p.src[start:p.pos]
	if err := p.closeBrace(); err != nil {
		return "", err
	}
	v, err := p.value(name, eval)
	if err != nil || v == "" {
		return v, err
	}
	first, size := utf8.DecodeRuneInString(v)
	switch op {
	case "^":
		return string(unicode.ToUpper(first)) + v[size:], nil
	case "^^":
		return strings.ToUpper(v), nil
	case ",":
		return string(unicode.ToLower(first)) + v[size:], nil
	case ",,":
		return strings.ToLower(v), nil
	}
	// Mixed operators such as ",^" leave the value as it is in the fork.
	return v, nil
}

func (p *substParser) substring(name string, eval bool, depth int) (string, error) {
	offsetText, err := p.text(stopColonOrBr, eval, depth)
	if err != nil {
		return "", err
	}
	lengthText, hasLength := "", false
	if p.peek() == ':' {
		p.pos++
		hasLength = true
		if lengthText, err = p.text(stopBrace, eval, depth); err != nil {
			return "", err
		}
	}
	if err := p.closeBrace(); err != nil {
		return "", err
	}
	v, err := p.value(name, eval)
	if err != nil {
		return "", err
	}
	return substringBash(v, offsetText, lengthText, hasLength), nil
}

func (p *substParser) replace(name string, eval bool, depth int) (string, error) {
	p.pos++ // the first '/'
	op := "/"
	if c := p.peek(); c == '/' || c == '#' || c == '%' {
		op += string(c)
		p.pos++
	}

	pattern := ""
	if p.peek() != '/' {
		var err error
		if pattern, err = p.textEscapes(stopSlash+stopBrace, eval, depth, true, true); err != nil {
			return "", err
		}
	}
	if p.peek() != '/' {
		return "", p.errorf("missing / after the pattern of ${%s%s...}", name, op)
	}
	p.pos++

	replacement, hasReplacement := "", false
	if p.peek() != '}' {
		var err error
		if replacement, err = p.textEscapes(stopBrace, eval, depth, true, true); err != nil {
			return "", err
		}
		hasReplacement = true
	}
	if err := p.closeBrace(); err != nil {
		return "", err
	}

	v, err := p.value(name, eval)
	if err != nil {
		return "", err
	}
	switch op {
	case "/":
		return strings.Replace(v, pattern, replacement, 1), nil
	case "//":
		return strings.ReplaceAll(v, pattern, replacement), nil
	case "/#":
		// The fork changes nothing when the replacement is left out.
		if hasReplacement && strings.HasPrefix(v, pattern) {
			return replacement + v[len(pattern):], nil
		}
	case "/%":
		if hasReplacement && strings.HasSuffix(v, pattern) {
			return v[:len(v)-len(pattern)] + replacement, nil
		}
	}
	return v, nil
}

func (p *substParser) trim(name string, eval bool, depth int) (string, error) {
	op := string(p.peek())
	p.pos++
	if p.peek() == op[0] {
		op += op
		p.pos++
	}
	pattern, err := p.text(stopBrace, eval, depth)
	if err != nil {
		return "", err
	}
	if err := p.closeBrace(); err != nil {
		return "", err
	}
	v, err := p.value(name, eval)
	if err != nil {
		return "", err
	}
	return trimGlob(v, pattern, op), nil
}

// isUndefinedVariable reports whether err is an unset variable, and which.
func isUndefinedVariable(err error) (string, bool) {
	var u *undefinedVariableError
	if errors.As(err, &u) {
		return u.Name, true
	}
	return "", false
}
