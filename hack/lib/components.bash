# Shared by hack/components.sh and hack/smoke-components.sh: where each
# component's binary lives in the cache and which version it is.
# Source this file. It defines functions and variables only.

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMPONENTS_SRC="$HACK_DIR/components"
COMPONENTS_CACHE="${CERTWAVE_CACHE:-$HOME/.cache/certwave}/components"

# All components of the local world, in build order. `make components` and
# hack/components.sh without arguments build these.
COMPONENT_NAMES=(etcd pebble kube-apiserver kube-controller-manager cert-manager-controller)

# Components that are built only when named on the command line. egctl is
# needed only to regenerate the Envoy Gateway goldens of sim/model.
OPTIONAL_COMPONENT_NAMES=(egctl)

# Print the build module directory (under hack/components/) of a component.
component_module_dir() {
	case "$1" in
	etcd) echo "$COMPONENTS_SRC/etcd" ;;
	pebble) echo "$COMPONENTS_SRC/pebble" ;;
	kube-apiserver | kube-controller-manager) echo "$COMPONENTS_SRC/kubernetes" ;;
	cert-manager-controller) echo "$COMPONENTS_SRC/cert-manager" ;;
	egctl) echo "$COMPONENTS_SRC/egctl" ;;
	*)
		echo "unknown component: $1 (expected one of: ${COMPONENT_NAMES[*]} ${OPTIONAL_COMPONENT_NAMES[*]})" >&2
		return 1
		;;
	esac
}

# Print the Go package that builds a component's binary.
component_package() {
	case "$1" in
	etcd) echo "go.etcd.io/etcd/server/v3" ;;
	pebble) echo "github.com/letsencrypt/pebble/v2/cmd/pebble" ;;
	kube-apiserver) echo "k8s.io/kubernetes/cmd/kube-apiserver" ;;
	kube-controller-manager) echo "k8s.io/kubernetes/cmd/kube-controller-manager" ;;
	cert-manager-controller) echo "github.com/cert-manager/cert-manager/certwave-controller" ;;
	egctl) echo "github.com/envoyproxy/gateway/cmd/egctl" ;;
	*)
		echo "unknown component: $1" >&2
		return 1
		;;
	esac
}

# Print the Go module whose version keys a component's cache directory.
component_module() {
	case "$1" in
	etcd) echo "go.etcd.io/etcd/server/v3" ;;
	pebble) echo "github.com/letsencrypt/pebble/v2" ;;
	kube-apiserver | kube-controller-manager) echo "k8s.io/kubernetes" ;;
	cert-manager-controller) echo "github.com/cert-manager/cert-manager" ;;
	egctl) echo "github.com/envoyproxy/gateway" ;;
	*)
		echo "unknown component: $1" >&2
		return 1
		;;
	esac
}

# Print a component's version as required by its build module's go.mod, so
# the cache key changes whenever go.mod is bumped. Reads go.mod only: no
# network access.
component_version() {
	local module dir
	module="$(component_module "$1")" || return 1
	dir="$(component_module_dir "$1")" || return 1
	awk -v m="$module" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$dir/go.mod"
}

# Print the path of a component's binary in the cache, e.g.
# ~/.cache/certwave/components/etcd-v3.6.17/etcd.
component_bin() {
	local version
	version="$(component_version "$1")" || return 1
	if [[ -z "$version" ]]; then
		echo "no version of $(component_module "$1") found in $(component_module_dir "$1")/go.mod" >&2
		return 1
	fi
	echo "$COMPONENTS_CACHE/$1-$version/$1"
}

# Succeed if a binary exists, is executable and prints its version.
# etcd, kube-apiserver, kube-controller-manager and cert-manager-controller
# take --version, Pebble takes -version, and egctl prints its own version
# with `egctl version --remote=false` (without that flag, egctl also
# queries the cluster of the current kubeconfig).
component_runs() {
	local name="$1" bin="$2"
	local -a args=(--version)
	case "$name" in
	pebble) args=(-version) ;;
	egctl) args=(version --remote=false) ;;
	esac
	[[ -x "$bin" ]] && "$bin" "${args[@]}" >/dev/null 2>&1
}
