// Package e2e runs the built-in scenarios as sigs.k8s.io/e2e-framework
// features: one feature per scenario, labelled with the scenario's name
// and labels, on the world CERTWAVE_WORLD names (model by default, or
// local). Select features with the framework's flags, for example
//
//	go test ./harness/e2e -args --labels label=smoke
//	CERTWAVE_WORLD=local go test -timeout 60m ./harness/e2e -args --feature local-smoke
//
// A scenario the world cannot run is skipped with the reason, never
// passed. There is no environment for an existing cluster yet: scenarios
// create their whole topology, which certwave does not do in a user's
// cluster.
package e2e
