package model

import (
	"context"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// listShared lists through the store without deep copies; see
// objectStore.listShared for what the caller must not do.
func (w *World) listShared(_ context.Context, list client.ObjectList) error {
	return w.api.listShared(list)
}

// writeVersion renders the write counters of kinds; a controller that saw
// the same rendering last time has nothing new to read.
func (w *World) writeVersion(kinds ...string) string {
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "%s=%d;", k, w.writes[k])
	}
	return b.String()
}

// unchanged reports whether the kinds were written since the controller
// named by key last ran, and records this run.
func (w *World) unchanged(key string, kinds ...string) bool {
	v := w.writeVersion(kinds...)
	if w.seen[key] == v {
		return true
	}
	w.seen[key] = v
	return false
}
