package model

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// runSmallMigration moves two public hosts to their own listeners and
// returns the trace and the log.
func runSmallMigration(t testing.TB, seed int64) ([]byte, []byte) {
	t.Helper()
	var log bytes.Buffer
	w := newReferenceWorld(t, Options{Seed: seed, Log: &log})
	annotateGateway(t, w, "network", "external", clusterIssuer)
	applyListeners(t, w, "network", "external",
		httpsListener("https-blog", "blog.example.com", "blog-tls"),
		httpsListener("https-git", "git.example.com", "git-tls"))
	w.Advance(5 * time.Minute)
	flipRoute(t, w, "apps-public", "blog", "https-blog")
	flipRoute(t, w, "apps-public", "git", "https-git")
	w.Advance(3 * day)
	var trace bytes.Buffer
	if err := w.WriteTrace(&trace); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&trace, "availability %v orders %d\n", w.Availability(), w.ACMEOrders())
	return trace.Bytes(), log.Bytes()
}

// One seed drives every random choice and time is virtual, so the same
// seed and calls give a byte-identical trace and log, as a simulation
// tester's replay requires. Another seed changes the propagation jitter
// and the initial certificate age.
func TestSameSeedSameTrace(t *testing.T) {
	trace1, log1 := runSmallMigration(t, 42)
	trace2, log2 := runSmallMigration(t, 42)
	if !bytes.Equal(trace1, trace2) {
		t.Errorf("traces of two runs with seed 42 differ:\n%s\n---\n%s", trace1, trace2)
	}
	if !bytes.Equal(log1, log2) {
		t.Error("logs of two runs with seed 42 differ")
	}
	if !bytes.Contains(log1[:bytes.IndexByte(log1, '\n')], []byte("seed=42")) {
		t.Errorf("first log line does not carry the seed: %s", log1[:bytes.IndexByte(log1, '\n')])
	}
	trace3, _ := runSmallMigration(t, 43)
	if bytes.Equal(trace1, trace3) {
		t.Error("seeds 42 and 43 gave identical traces")
	}
}

// BenchmarkReferenceWorld builds the reference world and runs ten idle
// virtual days, which include the wildcard's renewal when it falls due.
func BenchmarkReferenceWorld(b *testing.B) {
	for b.Loop() {
		w := newReferenceWorld(b, Options{InitialCertificateAge: 55 * day})
		w.Advance(10 * day)
	}
}
