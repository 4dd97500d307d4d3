package gitops

import (
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines around each hunk, as in
// diff -u.
const diffContext = 3

// Diff returns the pending edits as a unified diff against the files as
// they were read (or last written), one file after another in path order,
// with a/ and b/ path prefixes as git diff writes them. A deleted file
// diffs against /dev/null. It is empty when nothing changed.
func (r *Repo) Diff() string {
	var b strings.Builder
	for _, p := range r.Changed() {
		f := r.files[p]
		old := splitLines(string(f.orig))
		var cur []string
		from, to := "a/"+p, "b/"+p
		if f.orig == nil {
			from = "/dev/null"
		}
		if f.deleted {
			to = "/dev/null"
		} else {
			cur = splitLines(f.text())
		}
		fmt.Fprintf(&b, "--- %s\n+++ %s\n", from, to)
		writeHunks(&b, old, cur)
	}
	return b.String()
}

// Changed returns the paths, relative to the tree root, of the files whose
// text differs from what was read or last written, deleted files included.
func (r *Repo) Changed() []string {
	var out []string
	for _, p := range r.paths {
		f := r.files[p]
		if f.deleted || f.text() != string(f.orig) {
			out = append(out, p)
		}
	}
	return out
}

// splitLines splits text into lines that keep their "\n", so a missing
// final newline shows as a difference.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

type opKind byte

const (
	opEqual  opKind = ' '
	opDelete opKind = '-'
	opInsert opKind = '+'
)

type lineOp struct {
	kind opKind
	text string
}

// lineOps returns a shortest edit script from a to b, computed as a
// longest common subsequence after the common prefix and suffix are
// removed. The table is quadratic in the size of the changed middle,
// which is small for the localized edits this package makes.
func lineOps(a, b []string) []lineOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
	lcs := make([][]int, len(ma)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(mb)+1)
	}
	for i := len(ma) - 1; i >= 0; i-- {
		for j := len(mb) - 1; j >= 0; j-- {
			if ma[i] == mb[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}

	var ops []lineOp
	for _, l := range a[:pre] {
		ops = append(ops, lineOp{opEqual, l})
	}
	i, j := 0, 0
	for i < len(ma) || j < len(mb) {
		switch {
		case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
			ops = append(ops, lineOp{opEqual, ma[i]})
			i++
			j++
		case i < len(ma) && (j == len(mb) || lcs[i+1][j] >= lcs[i][j+1]):
			// Deletions go first, as diff -u writes them.
			ops = append(ops, lineOp{opDelete, ma[i]})
			i++
		default:
			ops = append(ops, lineOp{opInsert, mb[j]})
			j++
		}
	}
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, lineOp{opEqual, l})
	}
	return ops
}

// writeHunks writes the hunks of the diff from a to b.
func writeHunks(w *strings.Builder, a, b []string) {
	ops := lineOps(a, b)
	for start := 0; start < len(ops); {
		// Find the next change.
		first := start
		for first < len(ops) && ops[first].kind == opEqual {
			first++
		}
		if first == len(ops) {
			return
		}
		// Extend the hunk while changes are at most 2*context lines apart.
		end := first
		for k := first; k < len(ops); k++ {
			if ops[k].kind != opEqual {
				end = k + 1
			} else if k-end > 2*diffContext {
				break
			}
		}
		from := max(first-diffContext, start)
		to := min(end+diffContext, len(ops))

		aStart, bStart := 0, 0
		for _, op := range ops[:from] {
			if op.kind != opInsert {
				aStart++
			}
			if op.kind != opDelete {
				bStart++
			}
		}
		aCount, bCount := 0, 0
		for _, op := range ops[from:to] {
			if op.kind != opInsert {
				aCount++
			}
			if op.kind != opDelete {
				bCount++
			}
		}
		fmt.Fprintf(w, "@@ -%s +%s @@\n", hunkRange(aStart, aCount), hunkRange(bStart, bCount))
		for _, op := range ops[from:to] {
			w.WriteByte(byte(op.kind))
			w.WriteString(op.text)
			if !strings.HasSuffix(op.text, "\n") {
				w.WriteString("\n\\ No newline at end of file\n")
			}
		}
		start = to
	}
}

// hunkRange formats a hunk range: start is the number of lines before the
// hunk, so a non-empty range starts at start+1 and an empty one names the
// line it follows.
func hunkRange(start, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if count == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, count)
}
