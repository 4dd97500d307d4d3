package engine

import (
	"bytes"
	"context"
	"testing"
)

func TestDebugDry(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	var out bytes.Buffer
	newTestEngine(t, w, testPlan(), Options{DryRun: true, Out: &out}).Run(context.Background())
	t.Log(out.String())
}
