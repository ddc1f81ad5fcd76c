#!/usr/bin/env bash
# Benchmark (not a test): a node with N registries, each with its own CA
# file, written by `certsd apply -f SPEC` against the usual recipe (a shell
# loop of mkdir, cp and a heredoc per registry, then a sed on config.toml),
# once on tmpfs (what certsd itself costs) and once on this machine's disk.
#
#   tests/bench/fleet.sh [RUNS]          # default 5 runs per cell (3 at 10k)
#   CERTSD=path/to/certsd tests/bench/fleet.sh   # skip the release build
#
# Prints, per filesystem: the medians (ms) of the recipe, certsd from
# nothing, certsd again with nothing to change (every boot), certsd at 10,000
# registries and its ratio to 1,000, the peak RSS of each, and issue 9's
# targets with whether each holds (they are set for tmpfs).
# The CA files are copies of one test CA under distinct names: certsd reads
# and parses each one as it would distinct CAs.
set -euo pipefail

runs=${1:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
if [[ -z "${CERTSD:-}" ]]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    CERTSD="$root/target/release/certsd"
fi
CERTSD=$(realpath "$CERTSD")
ca="$root/testdata/pki/ca.crt"
config='version = 2

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = ""
'

# The clock is bash's own (EPOCHREALTIME, microseconds): reading it through
# `$(date ...)` forks and runs a program on each side of the timed command,
# which cost 2 to 8 ms a run here, more than a tenth of a rerun.
now_us() { local t=${EPOCHREALTIME//[!0-9]/}; REPLY=$t; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Peak RSS (KiB) of a command, from /usr/bin/time when present.
peak_kib() {
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1
    else
        python3 -c 'import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
    fi
}

# inputs DIR N: N CA files and the spec naming them.
inputs() {
    local dir=$1 n=$2 i
    mkdir -p "$dir/cas"
    { echo 'containerd_version = "1.7.24"'
      for ((i = 0; i < n; i++)); do
          cp "$ca" "$dir/cas/reg$i.crt"
          printf '\n[[registries]]\nhost = "reg%d.fleet.test:5000"\nca = "cas/reg%d.crt"\n' "$i" "$i"
      done; } > "$dir/spec.toml"
}

fresh_node() {
    rm -rf "$1/node"
    mkdir -p "$1/node/etc/containerd"
    printf '%s' "$config" > "$1/node/etc/containerd/config.toml"
}

recipe() {
    local dir=$1 n=$2 i d
    local certs="$dir/node/etc/containerd/certs.d"
    for ((i = 0; i < n; i++)); do
        d="$certs/reg$i.fleet.test:5000"
        mkdir -p "$d"
        cp "$dir/cas/reg$i.crt" "$d/ca.crt"
        cat > "$d/hosts.toml" <<HOSTS
server = "https://reg$i.fleet.test:5000"

[host."https://reg$i.fleet.test:5000"]
  capabilities = ["pull", "resolve"]
  ca = "/etc/containerd/certs.d/reg$i.fleet.test:5000/ca.crt"
HOSTS
    done
    sed -i 's|config_path = ""|config_path = "/etc/containerd/certs.d"|' "$dir/node/etc/containerd/config.toml"
}

certsd_apply() { "$CERTSD" apply --root "$1/node" -f "$1/spec.toml" >/dev/null 2>&1; }

# time_runs RUNS SETUP CMD...: median ms (to 0.1) of CMD, SETUP run before each.
time_runs() {
    local n=$1 setup=$2; shift 2
    for ((r = 0; r < n; r++)); do
        $setup
        local t0; now_us; t0=$REPLY
        "$@"
        now_us
        echo $(( REPLY - t0 ))
    done | median | awk '{printf "%.1f\n", $1 / 1000}'
}

bench_fs() {
    local label=$1 base=$2
    local d1="$base/n1000" d10="$base/n10000"
    inputs "$d1" 1000
    inputs "$d10" 10000
    local rec cer again ten
    rec=$(time_runs "$runs" "fresh_node $d1" recipe "$d1" 1000)
    cer=$(time_runs "$runs" "fresh_node $d1" certsd_apply "$d1")
    again=$(time_runs "$runs" true certsd_apply "$d1")
    local written
    written=$(find "$d1/node" -newer "$d1/spec.toml" -type f | wc -l)
    local before; before=$(find "$d1/node" -type f -printf '%T@ %p\n' | sort | md5sum)
    certsd_apply "$d1"
    local after; after=$(find "$d1/node" -type f -printf '%T@ %p\n' | sort | md5sum)
    ten=$(time_runs "$(( runs > 3 ? 3 : runs ))" "fresh_node $d10" certsd_apply "$d10")
    fresh_node "$d1"; local mem_recipe; mem_recipe=$(peak_kib bash -c "$(declare -f recipe); recipe $d1 1000")
    fresh_node "$d1"; local mem_fresh; mem_fresh=$(peak_kib "$CERTSD" apply --root "$d1/node" -f "$d1/spec.toml")
    local mem_again; mem_again=$(peak_kib "$CERTSD" apply --root "$d1/node" -f "$d1/spec.toml")
    fresh_node "$d10"; local mem_ten; mem_ten=$(peak_kib "$CERTSD" apply --root "$d10/node" -f "$d10/spec.toml")
    printf '%-6s %10s %10s %8s %10s %10s %8s %8s\n' "$label" "${rec}" "${cer}" \
        "$(awk -v a="$rec" -v b="$cer" 'BEGIN {printf "%.1fx", a / (b ? b : 1)}')" \
        "${again}" "$(awk -v a="$again" -v b="$rec" 'BEGIN {printf "%.2f%%", 100 * a / (b ? b : 1)}')" \
        "${ten}" "$(awk -v a="$ten" -v b="$cer" 'BEGIN {printf "%.1f", a / (b ? b : 1)}')"
    printf '       peak RSS (MiB): recipe %.1f, certsd fresh %.1f, rerun %.1f, 10k %.1f; rerun wrote nothing: %s\n' \
        "$(echo "$mem_recipe/1024" | bc -l)" "$(echo "$mem_fresh/1024" | bc -l)" \
        "$(echo "$mem_again/1024" | bc -l)" "$(echo "$mem_ten/1024" | bc -l)" \
        "$([[ $before == "$after" ]] && echo yes || echo NO)"
    : "$written"
    targets "$label" "$rec" "$cer" "$again" "$ten" "$([[ $before == "$after" ]] && echo yes || echo no)" \
        "$mem_fresh" "$mem_again" "$mem_ten"
}

# targets FS RECIPE FRESH RERUN 10K WROTE-NOTHING KIB...: issue 9's speed
# targets, each with whether this run met it (they are set for tmpfs; on
# disk the figures are printed for what they are).
targets() {
    local label=$1 rec=$2 cer=$3 again=$4 ten=$5 quiet=$6; shift 6
    local kib max=0
    for kib in "$@"; do (( kib > max )) && max=$kib; done
    verdict() { if awk "BEGIN {exit !($1)}"; then echo holds; else echo MISSED; fi; }
    printf '       targets (%s): from nothing >= 10x the recipe: %s; rerun < 1%% of the recipe and nothing written: %s; 10k/1k <= 12: %s; peak RSS < 32 MB: %s\n' \
        "$label" \
        "$(verdict "$rec >= 10 * $cer")" \
        "$( [[ $quiet == yes ]] && verdict "100 * $again < $rec" || echo MISSED)" \
        "$(verdict "$ten <= 12 * $cer")" \
        "$(verdict "$max * 1024 < 32000000")"
}

echo "fleet: 1,000 registries each with its own CA file; medians of $runs runs (ms)"
printf '%-6s %10s %10s %8s %10s %10s %8s %8s\n' fs recipe certsd speedup rerun "rerun/rec" "10k" "10k/1k"
tmp=$(mktemp -d /dev/shm/certsd-fleet.XXXXXX)
disk=$(mktemp -d "${TMPDIR:-/var/tmp}/certsd-fleet.XXXXXX")
trap 'rm -rf "$tmp" "$disk"' EXIT
bench_fs tmpfs "$tmp"
bench_fs disk "$disk"
