#!/usr/bin/env bash
# Build the real components of the `local` world (etcd, Pebble,
# kube-apiserver, kube-controller-manager, cert-manager-controller) from the
# Go module proxy into a
# cache directory keyed by version, and skip every binary that is already
# there and runs.
#
# Usage: hack/components.sh [COMPONENT...]
#   COMPONENT: etcd, pebble, kube-apiserver, kube-controller-manager,
#   cert-manager-controller (default: all of them), or egctl (Envoy Gateway's
#   CLI, which is built only when named, for `make envoygateway-goldens`).
#
# Environment:
#   CERTWAVE_CACHE    cache root (default ~/.cache/certwave); binaries go to
#                     $CERTWAVE_CACHE/components/<name>-<version>/<name>.
#   CERTWAVE_BUILD_P  passed as `go build -p N` (default: Go's default, the
#                     number of CPUs); lower it if memory runs short.
#   CERTWAVE_REBUILD  set to 1 to rebuild binaries that are already cached.
#
# Builds run under `nice -n 19` with -trimpath and CGO_ENABLED=0. A cold
# kube-apiserver build used about 410 CPU-seconds on a 2-core machine (see
# hack/README.md for the measurements).
set -euo pipefail

# shellcheck source=lib/components.bash source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/components.bash"

# Print a duration in seconds as e.g. 4m07s.
format_duration() {
	printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# Print the -ldflags for a component. Pebble, the Kubernetes binaries and
# cert-manager report their version from variables that their release builds
# set with -X. Without them `pebble -version` prints "dev",
# `kube-apiserver --version` prints v0.0.0-master and cert-manager reports
# "canary", also in its User-Agent and its default HTTP01 solver image.
# egctl without it prints an empty client version.
component_ldflags() {
	local name="$1" version="$2" flags="-s -w"
	case "$name" in
	pebble)
		flags+=" -X main.version=$version"
		;;
	kube-apiserver | kube-controller-manager)
		local minor package
		minor="$(echo "$version" | cut -d. -f2)"
		for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			flags+=" -X $package.gitVersion=$version"
			flags+=" -X $package.gitMajor=1 -X $package.gitMinor=$minor"
			flags+=" -X $package.gitTreeState=clean"
		done
		;;
	cert-manager-controller)
		flags+=" -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$version"
		;;
	egctl)
		flags+=" -X github.com/envoyproxy/gateway/internal/cmd/version.envoyGatewayVersion=$version"
		;;
	esac
	echo "$flags"
}

# Build one component into the cache unless it is already there and runs.
build_component() {
	local name="$1" version bin dir module_dir package ldflags
	module_dir="$(component_module_dir "$name")"
	package="$(component_package "$name")"
	bin="$(component_bin "$name")"
	version="$(component_version "$name")"
	dir="$(dirname "$bin")"

	if [[ "${CERTWAVE_REBUILD:-0}" != 1 ]] && component_runs "$name" "$bin"; then
		echo "==> $name $version: cached at $bin"
		return 0
	fi

	mkdir -p "$dir"
	ldflags="$(component_ldflags "$name" "$version")"
	local log="$dir/build.log" timing="$dir/build.time" partial="$bin.partial"
	local -a build_args=(build -o "$partial" -ldflags "$ldflags")
	if [[ -n "${CERTWAVE_BUILD_P:-}" ]]; then
		build_args+=(-p "$CERTWAVE_BUILD_P")
	fi
	build_args+=("$package")

	echo "==> $name $version: building $package, log in $log (a cold build can take several minutes)"
	local start=$SECONDS
	(
		cd "$module_dir"
		export CGO_ENABLED=0
		export GOFLAGS="-trimpath${GOFLAGS:+ $GOFLAGS}"
		TIMEFORMAT='%U %S %R'
		{ time nice -n 19 go "${build_args[@]}" >"$log" 2>&1; } 2>"$timing"
	) &
	local build_pid=$!

	# Report progress once a minute until the build exits.
	local next_report=$((start + 60))
	while kill -0 "$build_pid" 2>/dev/null; do
		sleep 2
		if ((SECONDS >= next_report)) && kill -0 "$build_pid" 2>/dev/null; then
			echo "    $name: still building, $(format_duration $((SECONDS - start))) elapsed"
			next_report=$((next_report + 60))
		fi
	done
	local status=0
	wait "$build_pid" || status=$?
	local elapsed=$((SECONDS - start))

	if ((status != 0)); then
		echo "==> $name $version: build failed after $(format_duration "$elapsed") (exit $status); last lines of $log:" >&2
		tail -n 30 "$log" >&2
		rm -f "$partial"
		return "$status"
	fi
	mv -f "$partial" "$bin"

	local user sys
	read -r user sys _ <"$timing"
	local size
	size="$(($(stat -c %s "$bin") / 1000000))"
	{
		echo "component: $name $version"
		echo "package: $package"
		echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "go: $(go version)"
		echo "wall seconds: $elapsed"
		echo "cpu seconds: user $user, sys $sys"
		echo "size MB: $size"
	} >"$dir/BUILD-INFO"
	if ! component_runs "$name" "$bin"; then
		echo "==> $name $version: built $bin, but it does not run with a version flag" >&2
		return 1
	fi
	echo "==> $name $version: built in $(format_duration "$elapsed") (cpu: user ${user}s, sys ${sys}s), ${size} MB: $bin"
}

main() {
	local -a names=("$@")
	if ((${#names[@]} == 0)); then
		names=("${COMPONENT_NAMES[@]}")
	fi
	local name
	for name in "${names[@]}"; do
		component_module_dir "$name" >/dev/null
	done

	echo "==> component cache: $COMPONENTS_CACHE"
	local start=$SECONDS
	for name in "${names[@]}"; do
		build_component "$name"
	done
	echo "==> all components ready in $(format_duration $((SECONDS - start)))"
}

main "$@"
