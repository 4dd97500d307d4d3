#!/usr/bin/env bash
# Install BIND 9 (`named`) from Debian's packages bind9 and bind9-utils for
# the DNS server of the `local` world (Go package sim/dns). Skips the
# install when named is already present. Idempotent: a second run prints
# where named is and exits.
#
# Usage: hack/install-bind.sh
#
# Environment:
#   CERTWAVE_NAMED  path of a named binary to use instead; when it is
#                   executable, nothing is installed.
#
# The system's named service is not started during the install: Debian's
# maintainer scripts ask /usr/sbin/policy-rc.d, and when that file is
# missing, this script puts one there for the duration of the install.
# sim/dns starts its own named processes and never uses that service.
set -euo pipefail

log() {
	echo "install-bind: $*"
}

fail() {
	echo "install-bind: error: $*" >&2
	exit 1
}

# Print the path of an installed named, or nothing. Debian installs it in
# /usr/sbin, which is not on the PATH of most users other than root.
find_named() {
	if [ -n "${CERTWAVE_NAMED:-}" ] && [ -x "$CERTWAVE_NAMED" ]; then
		echo "$CERTWAVE_NAMED"
	elif command -v named >/dev/null 2>&1; then
		command -v named
	elif [ -x /usr/sbin/named ]; then
		echo /usr/sbin/named
	fi
}

named_path="$(find_named)"
if [ -n "$named_path" ]; then
	log "found $named_path ($("$named_path" -v)); nothing to install"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	fail "apt-get not found: install BIND 9.18 or later with this system's package manager, or set CERTWAVE_NAMED to a named binary"
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		fail "installing packages needs root: run this script as root or install sudo"
	fi
	sudo=(sudo)
fi

policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	log "creating $policy for the install so that the system's named service does not start"
	# Exit code 101 means "action forbidden" to invoke-rc.d.
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	trap 'log "removing $policy"; "${sudo[@]}" rm -f "$policy"' EXIT
fi

candidate="$(apt-cache policy bind9 2>/dev/null | awk '/Candidate:/ { print $2 }')"
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
	log "no candidate for bind9 in the package lists; running apt-get update"
	"${sudo[@]}" apt-get update -q
fi

log "running apt-get install bind9 bind9-utils"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends bind9 bind9-utils

named_path="$(find_named)"
if [ -z "$named_path" ]; then
	fail "bind9 installed but named not found in PATH or /usr/sbin: check 'dpkg -L bind9 | grep bin/named'"
fi
log "installed $named_path ($("$named_path" -v))"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	log "note: Debian enables the named service for the next boot; certwave does not use it ('systemctl disable named' turns it off)"
fi
