#!/usr/bin/env bash
# Benchmark (not a test): time `certsd cert ca` against the equivalent
# `openssl req -x509 -newkey ...` for every key type, whole processes, so
# start-up and RNG seeding count as they do for a user.
#
#   tests/bench/cert-speed.sh [RUNS]          # default 7 runs per cell
#   CERTSD=path/to/certsd tests/bench/cert-speed.sh   # skip the build
#   COMPARE_JITTER=1 tests/bench/cert-speed.sh        # also a build with
#       aws-lc's CPU-jitter seeding left on (AWS_LC_SYS_NO_JITTER_ENTROPY=0,
#       own target dir, several minutes to build); .cargo/config.toml turns
#       it off for normal builds
#
# Prints one row per key type: median milliseconds for certsd and openssl.
set -euo pipefail

runs=${1:-7}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -z "${CERTSD:-}" ]]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    CERTSD="$root/target/release/certsd"
fi
CERTSD=$(realpath "$CERTSD") # each run starts in its own directory
jitter=""
if [[ -n "${COMPARE_JITTER:-}" ]]; then
    AWS_LC_SYS_NO_JITTER_ENTROPY=0 CARGO_TARGET_DIR="$root/target/bench-jitter" \
        cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    jitter="$root/target/bench-jitter/release/certsd"
fi

# openssl arguments making the same CA certsd makes for a key type.
openssl_key_args() {
    case $1 in
        ecdsa-p256) echo "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256" ;;
        ecdsa-p384) echo "-newkey ec -pkeyopt ec_paramgen_curve:P-384 -sha384" ;;
        rsa-2048 | rsa-3072 | rsa-4096) echo "-newkey rsa:${1#rsa-} -sha256" ;;
        ed25519) echo "-newkey ed25519" ;;
    esac
}

now_ns() { date +%s%N; }

# Median of the numbers given, one per argument.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# Runs "$@" $runs times in fresh directories; prints the median in ms.
time_ms() {
    local times=() i start
    for ((i = 0; i < runs; i++)); do
        local dir="$work/$RANDOM$i"
        mkdir -p "$dir"
        start=$(now_ns)
        (cd "$dir" && "$@" >/dev/null 2>&1) || { echo "failed: $*" >&2; exit 1; }
        times+=($((($(now_ns) - start) / 1000000)))
    done
    median "${times[@]}"
}

header="key type      certsd ms  openssl ms"
[[ -n "$jitter" ]] && header="$header  certsd(jitter on) ms"
echo "$runs runs each, median wall time; $(openssl version | cut -d' ' -f1-2)"
echo "$header"
for kt in ecdsa-p256 ecdsa-p384 rsa-2048 rsa-3072 rsa-4096 ed25519; do
    # shellcheck disable=SC2046
    ours=$(time_ms "$CERTSD" cert ca --out ca --key-type "$kt")
    theirs=$(time_ms openssl req -x509 $(openssl_key_args "$kt") -nodes -keyout ca.key -out ca.crt \
        -subj "/CN=certsd CA" -days 3650 \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign")
    row=$(printf '%-12s %10s %11s' "$kt" "$ours" "$theirs")
    if [[ -n "$jitter" ]]; then
        row="$row $(printf '%20s' "$(time_ms "$jitter" cert ca --out ca --key-type "$kt")")"
    fi
    echo "$row"
done
