package engine

import (
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 3

type editOp byte

const (
	opEqual  editOp = ' '
	opDelete editOp = '-'
	opInsert editOp = '+'
)

type edit struct {
	op   editOp
	line string
	// aLine and bLine are the 1-based line numbers in a and b before this
	// edit.
	aLine, bLine int
}

// unifiedDiff returns the lines of a and b as a unified diff with headers
// fromName and toName, or "" when they are equal. It uses a longest common
// subsequence table, which is quadratic but small for Kubernetes objects.
func unifiedDiff(fromName, toName string, a, b []string) string {
	edits := editScript(a, b)
	changed := false
	for _, e := range edits {
		if e.op != opEqual {
			changed = true
			break
		}
	}
	if !changed {
		return ""
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromName, toName)
	for start := 0; start < len(edits); {
		// Find the next change and the extent of its hunk.
		first := start
		for first < len(edits) && edits[first].op == opEqual {
			first++
		}
		if first == len(edits) {
			break
		}
		lo := max(first-diffContext, start)
		hi := first
		for i := first; i < len(edits); i++ {
			if edits[i].op != opEqual {
				hi = i
			} else if i-hi > 2*diffContext {
				break
			}
		}
		hi = min(hi+diffContext, len(edits)-1)
		writeHunk(&out, edits[lo:hi+1])
		start = hi + 1
	}
	return out.String()
}

func writeHunk(out *strings.Builder, hunk []edit) {
	aCount, bCount := 0, 0
	for _, e := range hunk {
		if e.op != opInsert {
			aCount++
		}
		if e.op != opDelete {
			bCount++
		}
	}
	aStart, bStart := hunk[0].aLine, hunk[0].bLine
	if aCount == 0 {
		aStart--
	}
	if bCount == 0 {
		bStart--
	}
	fmt.Fprintf(out, "@@ -%d,%d +%d,%d @@\n", aStart, aCount, bStart, bCount)
	for _, e := range hunk {
		out.WriteByte(byte(e.op))
		out.WriteString(e.line)
		out.WriteByte('\n')
	}
}

// editScript returns the edits that turn a into b.
func editScript(a, b []string) []edit {
	n, m := len(a), len(b)
	// lcs[i][j] is the length of the longest common subsequence of a[i:]
	// and b[j:].
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var edits []edit
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			edits = append(edits, edit{opEqual, a[i], i + 1, j + 1})
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			edits = append(edits, edit{opDelete, a[i], i + 1, j + 1})
			i++
		default:
			edits = append(edits, edit{opInsert, b[j], i + 1, j + 1})
			j++
		}
	}
	return edits
}
