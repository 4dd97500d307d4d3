#!/usr/bin/env bash
# Smoke-test the cached components on 127.0.0.1: start etcd and
# kube-apiserver, wait for /readyz, list namespaces with an admin token, then
# start Pebble and fetch its ACME directory. Every process is stopped by PID
# on exit, also on failure. Build the binaries first with hack/components.sh.
#
# Usage: hack/smoke-components.sh [kubernetes] [pebble]   (default: both)
#
# Environment:
#   ETCD_BIN, KUBE_APISERVER_BIN, PEBBLE_BIN  override the cached binaries
#       (for example ETCD_BIN=/usr/bin/etcd from Debian's etcd-server).
#   CERTWAVE_SMOKE_TIMEOUT  seconds to wait for each server (default 120).
#   CERTWAVE_SMOKE_KEEP     set to 1 to keep the temporary directory and its
#                           logs after exit.
set -euo pipefail

# shellcheck source=lib/components.bash source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/components.bash"

ETCD_BIN="${ETCD_BIN:-$(component_bin etcd)}"
KUBE_APISERVER_BIN="${KUBE_APISERVER_BIN:-$(component_bin kube-apiserver)}"
PEBBLE_BIN="${PEBBLE_BIN:-$(component_bin pebble)}"
TIMEOUT="${CERTWAVE_SMOKE_TIMEOUT:-120}"
STOP_GRACE_SECONDS=15

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/certwave-smoke.XXXXXX")"
PIDS=()

# Succeed while a child process has not exited. A child that exited but is
# not yet reaped is a zombie, and `kill -0` still succeeds on it.
process_running() {
	local state
	state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
	[[ "$state" != Z* ]]
}

# Stop a child process with SIGTERM, and with SIGKILL if it is still running
# after STOP_GRACE_SECONDS.
stop_process() {
	local pid="$1"
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + STOP_GRACE_SECONDS))
	while process_running "$pid" && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if process_running "$pid"; then
		echo "process $pid still running ${STOP_GRACE_SECONDS}s after SIGTERM, sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# Stop every started server in reverse start order, so kube-apiserver stops
# while etcd still runs, and keep the logs if the test failed.
cleanup() {
	local status=$?
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_process "${PIDS[i]}"
	done
	if ((status != 0)); then
		echo "smoke test failed (exit $status); server logs are in $WORK_DIR/*.log" >&2
		local log
		for log in "$WORK_DIR"/*.log; do
			[[ -f "$log" ]] || continue
			echo "--- last lines of $log" >&2
			tail -n 15 "$log" >&2
		done
	elif [[ "${CERTWAVE_SMOKE_KEEP:-0}" != 1 ]]; then
		rm -rf "$WORK_DIR"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Print a TCP port on 127.0.0.1 that nothing listens on. Another process may
# take the port before the server binds it. The server then fails to start,
# and the smoke test fails and prints its log.
free_port() {
	local port attempt
	for attempt in $(seq 1 100); do
		port=$((20000 + RANDOM % 40000))
		if ! (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "no free port found on 127.0.0.1 after $attempt tries" >&2
	return 1
}

# Wait until a command succeeds, failing after $TIMEOUT seconds or as soon as
# the server process (PID) exits.
wait_for() {
	local what="$1" pid="$2"
	shift 2
	local start=$SECONDS
	until "$@" >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$what exited before it was ready" >&2
			return 1
		fi
		if ((SECONDS - start >= TIMEOUT)); then
			echo "$what not ready after ${TIMEOUT}s" >&2
			return 1
		fi
		sleep 0.5
	done
	echo "    $what ready after $((SECONDS - start))s"
}

require_binary() {
	local name="$1" bin="$2"
	if [[ ! -x "$bin" ]]; then
		echo "$name binary not found at $bin. Run hack/components.sh $name first." >&2
		exit 1
	fi
}

smoke_kubernetes() {
	require_binary etcd "$ETCD_BIN"
	require_binary kube-apiserver "$KUBE_APISERVER_BIN"

	local etcd_port etcd_peer_port apiserver_port
	etcd_port="$(free_port)"
	etcd_peer_port="$(free_port)"
	apiserver_port="$(free_port)"

	echo "==> etcd: $ETCD_BIN on 127.0.0.1:$etcd_port"
	"$ETCD_BIN" \
		--name smoke \
		--data-dir "$WORK_DIR/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" \
		--advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
		--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster "smoke=http://127.0.0.1:$etcd_peer_port" \
		>"$WORK_DIR/etcd.log" 2>&1 &
	local etcd_pid=$!
	PIDS+=("$etcd_pid")
	wait_for etcd "$etcd_pid" curl -sf "http://127.0.0.1:$etcd_port/health"

	# Service-account signing key pair and an admin token in system:masters.
	openssl genrsa -out "$WORK_DIR/sa.key" 2048 2>/dev/null
	openssl rsa -in "$WORK_DIR/sa.key" -pubout -out "$WORK_DIR/sa.pub" 2>/dev/null
	local token
	token="$(openssl rand -hex 16)"
	echo "$token,smoke-admin,smoke-admin,system:masters" >"$WORK_DIR/tokens.csv"

	echo "==> kube-apiserver: $KUBE_APISERVER_BIN on https://127.0.0.1:$apiserver_port"
	"$KUBE_APISERVER_BIN" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 \
		--advertise-address 127.0.0.1 \
		--secure-port "$apiserver_port" \
		--cert-dir "$WORK_DIR/apiserver-certs" \
		--service-account-issuer https://kubernetes.default.svc \
		--service-account-signing-key-file "$WORK_DIR/sa.key" \
		--service-account-key-file "$WORK_DIR/sa.pub" \
		--service-cluster-ip-range 10.0.0.0/24 \
		--authorization-mode RBAC \
		--token-auth-file "$WORK_DIR/tokens.csv" \
		>"$WORK_DIR/kube-apiserver.log" 2>&1 &
	local apiserver_pid=$!
	PIDS+=("$apiserver_pid")
	local url="https://127.0.0.1:$apiserver_port"
	wait_for kube-apiserver "$apiserver_pid" \
		curl -skf -H "Authorization: Bearer $token" "$url/readyz"

	echo "==> namespaces:"
	local namespaces
	namespaces="$(curl -skf -H "Authorization: Bearer $token" "$url/api/v1/namespaces" |
		grep -o '"name": *"[^"]*"' | sed 's/.*: *"\(.*\)"/\1/' | sort -u)"
	local namespace
	for namespace in $namespaces; do
		echo "    $namespace"
	done
	if ! grep -qx default <<<"$namespaces"; then
		echo "namespace list from kube-apiserver has no \"default\" namespace" >&2
		return 1
	fi
	# An anonymous request must be rejected, so RBAC and authentication are on.
	local anonymous_status
	anonymous_status="$(curl -sk -o /dev/null -w '%{http_code}' "$url/api/v1/namespaces")"
	if [[ "$anonymous_status" != 401 && "$anonymous_status" != 403 ]]; then
		echo "anonymous namespace list returned HTTP $anonymous_status, expected 401 or 403" >&2
		return 1
	fi
	echo "    anonymous request rejected with HTTP $anonymous_status"
}

smoke_pebble() {
	require_binary pebble "$PEBBLE_BIN"

	local port management_port
	port="$(free_port)"
	management_port="$(free_port)"

	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$WORK_DIR/pebble.key" -out "$WORK_DIR/pebble.crt" 2>/dev/null
	# httpPort and tlsPort are the ports Pebble's validation authority
	# dials for challenges; the smoke test issues no certificate.
	cat >"$WORK_DIR/pebble.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$port",
    "managementListenAddress": "127.0.0.1:$management_port",
    "certificate": "$WORK_DIR/pebble.crt",
    "privateKey": "$WORK_DIR/pebble.key",
    "httpPort": 5002,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
JSON

	echo "==> pebble: $PEBBLE_BIN on https://127.0.0.1:$port"
	"$PEBBLE_BIN" -config "$WORK_DIR/pebble.json" >"$WORK_DIR/pebble.log" 2>&1 &
	local pebble_pid=$!
	PIDS+=("$pebble_pid")
	wait_for pebble "$pebble_pid" curl -skf "https://127.0.0.1:$port/dir"

	local directory
	directory="$(curl -skf "https://127.0.0.1:$port/dir")"
	if ! grep -q '"newOrder"' <<<"$directory"; then
		echo "Pebble's /dir has no newOrder URL: $directory" >&2
		return 1
	fi
	echo "    /dir lists newOrder: $(grep -o '"newOrder": *"[^"]*"' <<<"$directory")"
}

main() {
	local -a parts=("$@")
	if ((${#parts[@]} == 0)); then
		parts=(kubernetes pebble)
	fi
	local start=$SECONDS part
	for part in "${parts[@]}"; do
		case "$part" in
		kubernetes) smoke_kubernetes ;;
		pebble) smoke_pebble ;;
		*)
			echo "unknown smoke test: $part (expected kubernetes or pebble)" >&2
			return 2
			;;
		esac
	done
	echo "==> smoke test passed in $((SECONDS - start))s"
}

main "$@"
