// Package e2e runs the built-in scenarios as sigs.k8s.io/e2e-framework
// features: one feature per scenario, labelled with the scenario's name
// and labels, on the world CERTWAVE_WORLD names (model by default, local
// or cluster). Select features with the framework's flags, for example
//
//	go test ./harness/e2e -args --labels label=smoke
//	CERTWAVE_WORLD=local go test -timeout 60m ./harness/e2e -args --feature local-smoke
//
// The cluster world runs the scenarios on an existing disposable cluster.
// The framework's --kubeconfig and --context flags select it (else
// CERTWAVE_KUBECONFIG and CERTWAVE_CONTEXT), and CERTWAVE_DISPOSABLE_CONTEXT
// must name the context in use, or the environment's setup fails before
// any feature runs:
//
//	CERTWAVE_WORLD=cluster CERTWAVE_DISPOSABLE_CONTEXT=kind-test \
//	  go test -timeout 60m ./harness/e2e -args --kubeconfig kind.yaml --context kind-test --labels label=smoke
//
// A scenario the world cannot run is skipped with the reason, never
// passed.
package e2e
