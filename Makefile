# certwave build targets. Go 1.26 or newer is required (see go.mod).

GO        ?= go
BIN       ?= bin/certwave
WORLD     ?= model
SEED      ?= 1
CERTWAVE_FIXTURES ?= $(abspath ../shared/fixtures)
export CERTWAVE_FIXTURES

.PHONY: build test simulate e2e bench lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/certwave

# Unit tests, the fixture tests and the scenario suite on the model world,
# and the local stack's tests where its components and BIND are installed.
# cmd/certwave's end-to-end test on the local stack needs more than go
# test's default timeout of 10 minutes per package.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

# Rehearse every scenario in scenarios/ on the chosen world and print a
# verdict per scenario plus a Markdown report in reports/.
simulate: build
	$(BIN) simulate --world $(WORLD) --seed $(SEED) --suite scenarios --report reports/simulate.md

# The scenarios as sigs.k8s.io/e2e-framework features on WORLD, selected
# by LABELS (key=value, such as label=smoke or scenario=local-smoke).
# WORLD=cluster runs them on the existing cluster of the KUBECONFIG given
# on the command line, never the one in the environment (CONTEXT selects
# a context), which CERTWAVE_DISPOSABLE_CONTEXT must name:
#   make e2e WORLD=cluster KUBECONFIG=kind.yaml CONTEXT=kind-test CERTWAVE_DISPOSABLE_CONTEXT=kind-test
LABELS ?=
CONTEXT ?=
E2E_KUBECONFIG = $(if $(filter command line,$(origin KUBECONFIG)),$(KUBECONFIG))
E2E_CLUSTER_ARGS = $(if $(filter cluster,$(WORLD)),$(if $(E2E_KUBECONFIG),--kubeconfig $(E2E_KUBECONFIG)) $(if $(CONTEXT),--context $(CONTEXT)))
E2E_ARGS = $(strip $(if $(LABELS),--labels $(LABELS)) $(E2E_CLUSTER_ARGS))
e2e:
	CERTWAVE_WORLD=$(WORLD) $(if $(CERTWAVE_DISPOSABLE_CONTEXT),CERTWAVE_DISPOSABLE_CONTEXT=$(CERTWAVE_DISPOSABLE_CONTEXT)) \
		$(GO) test -count=1 -timeout 60m -v ./harness/e2e $(if $(E2E_ARGS),-args $(E2E_ARGS))

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

# Short fuzzing of the GitOps loader's YAML and substitution paths.
fuzz:
	$(GO) test ./topology -run '^$$' -fuzz FuzzSubstitute -fuzztime 30s
	$(GO) test ./topology -run '^$$' -fuzz FuzzLoadYAML -fuzztime 30s

clean:
	rm -rf bin reports

# Build the real components of the `local` world (etcd, Pebble,
# kube-apiserver, kube-controller-manager, cert-manager-controller) into
# $CERTWAVE_CACHE/components (default ~/.cache/certwave/components). Cached
# binaries are skipped, and a cold build takes many minutes. No other target
# depends on it. See hack/README.md.
.PHONY: components components-smoke components-stack
components:
	hack/components.sh

# Start the cached etcd, kube-apiserver and Pebble on 127.0.0.1 and check
# that they answer.
components-smoke:
	hack/smoke-components.sh

# Start the whole local stack (sim/stack/local) from the cached binaries and
# check that the real cert-manager issues a selfSigned Certificate and that
# its gateway-shim creates a Certificate for a Gateway listener. Fails when
# a binary is missing.
components-stack:
	CERTWAVE_LOCAL_REQUIRED=1 $(GO) test -count=1 -v -run 'TestStackIssuesSelfSignedCertificate|ACME' ./sim/stack/local

# Rewrite the Envoy Gateway goldens of sim/model (sim/model/testdata/envoygateway)
# with the cached egctl, which `hack/components.sh egctl` builds. No other
# target depends on it. See hack/README.md.
.PHONY: envoygateway-goldens
envoygateway-goldens:
	$(GO) run ./hack/envoygateway-goldens

# Run the certwave binary against the local stack with only the RBAC role
# of deploy/rbac: plan, rehearsal, phases 0 and 1, status, a rollback and a
# kill test. Needs the components (make components) and BIND
# (hack/install-bind.sh); takes several minutes.
.PHONY: e2e-local
e2e-local:
	CERTWAVE_LOCAL_REQUIRED=1 $(GO) test -count=1 -timeout 30m -v -run TestLocalStackRun ./cmd/certwave

# The whole reference migration against the local stack with 20 kills of
# certwave run: about 20 minutes, so not part of make test.
.PHONY: e2e-full
e2e-full:
	CERTWAVE_LOCAL_REQUIRED=1 CERTWAVE_E2E_FULL=1 $(GO) test -count=1 -timeout 60m -v -run TestLocalStackFullMigration ./cmd/certwave
