#!/usr/bin/env bash
# Prepare the machine for the end-to-end tests (tests/e2e): install the Debian
# packages they use and unpack containerd 1.7 (Debian trixie) and 2.1 (Debian sid)
# into target/e2e-containerd/<series>/ without installing them.
#
# Run as root from anywhere: bash tests/e2e/setup.sh
# Re-running is cheap: installed packages and unpacked trees are reused.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${CERTSD_E2E_CACHE:-$repo/target/e2e-containerd}"

if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: needs root (apt-get install); skipping" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# 1. Debian 12 packages. Name only the missing ones: naming an installed
#    package makes apt-get upgrade it.
# apache2-utils: htpasswd -B, the bcrypt password file of the basic-auth registry.
# strace: fault injection for the crash sweeps (tests/crash.rs).
wanted=(containerd runc docker-registry skopeo openssl util-linux iproute2 dpkg ca-certificates strace apache2-utils)
missing=()
for p in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

# A package's maintainer script may try to start its daemon. Forbid that
# while installing (policy-rc.d is honoured by invoke-rc.d).
stop_started_daemons() {
    # containerd and docker-registry from the packages must not stay running.
    local name pid
    for name in containerd docker-registry; do
        for pid in $(pgrep -x "$name" || true); do
            # Only daemons running the packaged binary, not a test's own.
            if [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "/usr/bin/$name" ] &&
                [ "$(ps -o ppid= -p "$pid" | tr -d ' ')" = 1 ]; then
                echo "setup.sh: stopping packaged $name (pid $pid) started by apt" >&2
                kill "$pid" || true
            fi
        done
    done
}

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
        [ "$made_policy" = 1 ] && rm -f "$policy"
        exit 1
    }
    [ "$made_policy" = 1 ] && rm -f "$policy"
    stop_started_daemons
fi

# 2. containerd 1.7 and 2.1 from newer Debian suites, fetched with a private
#    apt state so the machine's own sources and lists stay untouched.
mirror="$(grep -rhoE '^(URIs:|deb) +(\[[^]]*\] +)?https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null |
    grep -oE 'https?://[^ ]*/debian/?' | head -n1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
mirror="${mirror%/}"

aptdir="$cache/apt"
fetch_series() {
    local series="$1" suite="$2"
    local dest="$cache/$series"
    if [ -x "$dest/usr/bin/containerd" ] && [ -x "$dest/usr/bin/ctr" ]; then
        echo "setup.sh: containerd $series already in $dest" >&2
        return
    fi
    local lists="$aptdir/$suite/lists" src="$aptdir/$suite/sources.list"
    mkdir -p "$lists/partial" "$aptdir/$suite/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$src"
    local opts=(-o "Dir::State::Lists=$lists" -o "Dir::Etc::SourceList=$src"
        -o "Dir::Etc::SourceParts=-" -o "Dir::Cache::archives=$aptdir/$suite/archives"
        -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
    apt-get "${opts[@]}" update -qq >&2
    local version
    version="$(apt-cache "${opts[@]}" show containerd 2>/dev/null | awk '/^Version:/{print $2}' | sort -V | tail -n1)"
    echo "setup.sh: containerd $series: $suite has $version" >&2
    local work
    work="$(mktemp -d)"
    (cd "$work" && apt-get "${opts[@]}" download "containerd=$version" >&2)
    rm -rf "$dest.tmp"
    mkdir -p "$dest.tmp"
    dpkg-deb -x "$work"/containerd_*.deb "$dest.tmp"
    rm -rf "$work"
    "$dest.tmp/usr/bin/containerd" --version >&2
    rm -rf "$dest"
    mv "$dest.tmp" "$dest"
}

fetch_series 1.7 trixie
fetch_series 2.1 sid

echo "setup.sh: ready: $(containerd --version)" >&2
for s in 1.7 2.1; do echo "setup.sh: ready: $("$cache/$s/usr/bin/containerd" --version)" >&2; done
