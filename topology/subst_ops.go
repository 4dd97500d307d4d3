package topology

import (
	"path"
	"strconv"
	"strings"
)

// The value operations of Flux substitution that bash defines; the parser in
// subst.go calls them once it has read an expression.

// substringBash follows bash: a negative offset counts from the end, a
// negative length drops characters from the end, and text that is not a
// number leaves the value unchanged.
func substringBash(s, offsetText, lengthText string, hasLength bool) string {
	pos, err := strconv.Atoi(strings.TrimSpace(offsetText))
	if err != nil {
		return s
	}
	if pos < 0 {
		pos = max(len(s)+pos, 0)
	}
	if pos >= len(s) {
		return ""
	}
	if !hasLength {
		return s[pos:]
	}
	length, err := strconv.Atoi(strings.TrimSpace(lengthText))
	if err != nil {
		return s
	}
	end := pos + length
	if length < 0 {
		end = len(s) + length
		if end < pos {
			return ""
		}
	}
	return s[pos:min(end, len(s))]
}

// trimGlob removes the shortest (# or %) or longest (## or %%) prefix (#) or
// suffix (%) of s that matches the glob pattern. A pattern that is not a
// valid glob leaves s unchanged.
func trimGlob(s, pattern, op string) string {
	longest := len(op) == 2
	fromStart := op[0] == '#'
	best := -1
	for n := 1; n <= len(s); n++ {
		part := s[:n]
		if !fromStart {
			part = s[len(s)-n:]
		}
		ok, err := path.Match(pattern, part)
		if err != nil {
			return s
		}
		if ok {
			best = n
			if !longest {
				break
			}
		}
	}
	if best < 0 {
		return s
	}
	if fromStart {
		return s[best:]
	}
	return s[:len(s)-best]
}
