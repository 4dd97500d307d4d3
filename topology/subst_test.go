package topology

import (
	"strings"
	"testing"
)

func testLookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestSubstituteVars(t *testing.T) {
	vars := map[string]string{
		"SECRET_DOMAIN": "example.com",
		"APP":           "shop",
		"EMPTY":         "",
		"PATH_LIKE":     "a/b/c",
		"FILE":          "archive.tar.gz",
	}
	tests := []struct {
		in, want string
	}{
		{"plain text", "plain text"},
		{"${SECRET_DOMAIN}", "example.com"},
		{"app.${SECRET_DOMAIN}", "app.example.com"},
		{"${SECRET_DOMAIN/./-}-tls", "example-com-tls"},
		{"${SECRET_DOMAIN//./-}", "example-com"},
		{"${FILE/./_}", "archive_tar.gz"},
		{"${FILE//./_}", "archive_tar_gz"},
		{"${FILE/.gz/}", "archive.tar"},
		{"${FILE/#archive/backup}", "backup.tar.gz"},
		{"${FILE/%gz/xz}", "archive.tar.xz"},
		{"${PATH_LIKE/\\//-}", "a-b/c"},
		{"${MISSING:-fallback}", "fallback"},
		{"${EMPTY:-fallback}", "fallback"},
		{"${APP:-fallback}", "shop"},
		{"${MISSING:=fallback}", "fallback"},
		{"${MISSING=fallback}", "fallback"},
		{"${MISSING:-}", ""},
		{"${APP_ROUTE:-${APP}}", "shop"},
		{"${APP:-${MISSING}}", "shop"}, // an unused default is not evaluated
		{"$${SECRET_DOMAIN}", "${SECRET_DOMAIN}"},
		{"cost: $$5", "cost: $5"},
		{"$SECRET_DOMAIN", "$SECRET_DOMAIN"}, // only ${...} is expanded
		{"a $ b", "a $ b"},
		{"trailing $", "trailing $"},
		{"${#APP}", "4"},
		{"${APP^}", "Shop"},
		{"${APP^^}", "SHOP"},
		{"${APP,}", "shop"},
		{"${APP:1}", "hop"},
		{"${APP:1:2}", "ho"},
		{"${APP:1:-1}", "ho"},
		{"${APP:9}", ""},
		{"${FILE#*.}", "tar.gz"},
		{"${FILE##*.}", "gz"},
		{"${FILE%.*}", "archive.tar"},
		{"${FILE%%.*}", "archive"},
		{"{{ .Release.Name }}.${SECRET_DOMAIN}", "{{ .Release.Name }}.example.com"},
	}
	for _, tc := range tests {
		got, err := substituteVars(tc.in, testLookup(vars))
		if err != nil {
			t.Errorf("substituteVars(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("substituteVars(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSubstituteVarsUndefined(t *testing.T) {
	for _, in := range []string{"${MISSING}", "a.${MISSING}", "${MISSING/./-}", "${X:-${MISSING}}", "${#MISSING}"} {
		_, err := substituteVars(in, testLookup(nil))
		name, ok := isUndefinedVariable(err)
		if !ok || name != "MISSING" {
			t.Errorf("substituteVars(%q) error = %v, want MISSING undefined", in, err)
		}
	}
}

func TestSubstituteVarsSyntaxErrors(t *testing.T) {
	vars := testLookup(map[string]string{"A": "a"})
	for _, in := range []string{"${A", "${}", "${-x}", "${A-default}", "${A/x}", "${A:-${B}", "${A^x}"} {
		if got, err := substituteVars(in, vars); err == nil {
			t.Errorf("substituteVars(%q) = %q, want a syntax error", in, got)
		}
	}
}

func TestSubstituteVarsDepthLimit(t *testing.T) {
	in := strings.Repeat("${A:-", 200) + "x" + strings.Repeat("}", 200)
	if _, err := substituteVars(in, testLookup(nil)); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("error = %v, want the nesting limit", err)
	}
}

func FuzzSubstitute(f *testing.F) {
	for _, seed := range []string{
		"${SECRET_DOMAIN}", "${SECRET_DOMAIN/./-}-tls", "${A:-${B:-c}}", "$${X}", "${X:1:-1}",
		"${X##*.}", "${X/#a/b}", "${#X}", "${X^^}", "${", "$", "}", "${X/", "${X:", "${X:-",
		"\\/${X/\\//-}", "${ü}", "${X%%[a-}",
	} {
		f.Add(seed)
	}
	vars := testLookup(map[string]string{"X": "a.b.c", "SECRET_DOMAIN": "example.com", "A": "", "ü": "u"})
	f.Fuzz(func(t *testing.T, in string) {
		out, err := substituteVars(in, vars)
		if !strings.Contains(in, "$") && (err != nil || out != in) {
			t.Fatalf("text without $ changed: %q -> %q, %v", in, out, err)
		}
		if err == nil && !strings.Contains(in, "${") && !strings.Contains(in, "$$") && out != in {
			t.Fatalf("text without ${ or $$ changed: %q -> %q", in, out)
		}
	})
}
