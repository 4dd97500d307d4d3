package engine

import (
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	a := strings.Split("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl", "\n")
	b := strings.Split("a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\nm", "\n")
	got := unifiedDiff("old", "new", a, b)
	want := "--- old\n+++ new\n" +
		"@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n" +
		"@@ -10,3 +10,4 @@\n j\n k\n l\n+m\n"
	if got != want {
		t.Errorf("diff =\n%s\nwant\n%s", got, want)
	}
}

func TestUnifiedDiffEqualAndCreated(t *testing.T) {
	if got := unifiedDiff("a", "b", []string{"x"}, []string{"x"}); got != "" {
		t.Errorf("diff of equal lines = %q, want empty", got)
	}
	got := unifiedDiff("a", "b", nil, []string{"x", "y"})
	if want := "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n"; got != want {
		t.Errorf("diff of a new object = %q, want %q", got, want)
	}
	got = unifiedDiff("a", "b", []string{"x"}, nil)
	if want := "--- a\n+++ b\n@@ -1,1 +0,0 @@\n-x\n"; got != want {
		t.Errorf("diff of a deleted object = %q, want %q", got, want)
	}
}
