#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: Berth against CNCF Distribution 2.8 (Debian's `docker-registry`),
# both started here on loopback ports in temp dirs and measured alternately in the same run.
#
#   scripts/benchmarks.sh            # the reference workload (1 GiB blobs, 500 images, ...)
#   BENCH_ARGS="--blob-mib 256" scripts/benchmarks.sh   # extra berth-bench flags for every run
#
# Three runs of berth-bench:
#   1. the whole workload: Berth (token auth, as docker uses it) vs Distribution without auth;
#   2. auth: small_push and manifest_get, Berth (token) vs Distribution with htpasswd (bcrypt);
#   3. no credentials: manifest_get anonymously, Berth on a public repository vs Distribution.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
extra=(${BENCH_ARGS:-})

source scripts/bench-common.sh

start_berth
start_peer "$(free_port)"
plain_pid=$peer_pid plain_url=$peer_url
start_peer "$(free_port)" bench "$BENCH_PASSWORD"
auth_pid=$peer_pid auth_url=$peer_url

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
common=(--name Berth --compare-name Distribution --url "$berth" --user admin --server-pid "$berth_pid")

"$bench" "${common[@]}" --compare "$plain_url" --compare-pid "$plain_pid" \
    --markdown "$work/main.md" --json "$work/main.json" "${extra[@]}"
"$bench" "${common[@]}" --compare "$auth_url" --compare-pid "$auth_pid" --compare-user bench \
    --compare-password "$BENCH_PASSWORD" --scenario small_push,manifest_get --seed 2 \
    --markdown "$work/auth.md" --json "$work/auth.json" "${extra[@]}"
curl -sf -u "admin:$BENCH_PASSWORD" -X PATCH -H 'Content-Type: application/json' \
    -d '{"visibility":"public"}' "$berth/api/v0/repositories/bench/manifest" >/dev/null
"$bench" --name Berth --compare-name Distribution --url "$berth" --server-pid "$berth_pid" \
    --compare "$plain_url" --compare-pid "$plain_pid" --scenario manifest_get \
    --markdown "$work/anon.md" --json "$work/anon.json" "${extra[@]}"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
command="scripts/benchmarks.sh"
[ -z "${BENCH_ARGS:-}" ] || command="BENCH_ARGS='$BENCH_ARGS' scripts/benchmarks.sh"
workload="the reference workload of berth-bench's defaults (1 GiB blobs, 16 MiB chunks, 500 images, 16 clients, 64 connections for 15 s, 10,000 tags, 2,000 repositories)"
[ -z "${BENCH_ARGS:-}" ] || workload="$BENCH_ARGS on top of berth-bench's defaults (see \`berth-bench --help\`)"

# The sections other scripts write (benchmarks-cluster.sh, -ui.sh, -gc.sh, -binary.sh, -s3.sh, -events.sh, -webhooks.sh) are kept as they are.
kept=""
for name in replication ui gc binary s3 events webhooks; do
    text=$(section "$name" "$out")
    [ -z "$text" ] || kept+=$'\n'"$text"$'\n'
done
{
    cat <<MD
# Benchmarks

Berth against CNCF Distribution $(docker-registry --version 2>/dev/null | awk '{print $3}') (Debian's \`docker-registry\`), both
started by \`scripts/benchmarks.sh\` on loopback ports and measured **alternately in the same run** by
\`berth-bench\` (\`crates/bench\`). Regenerate this file with:

\`\`\`
$command
\`\`\`

Workload: $workload.

Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), SHA extensions: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)),
load average $load_before before and $load_after after the run (the machine is shared, so figures are noisy:
read the ratios, which are measured pair by pair, and the server CPU per operation). $(date -u +'%Y-%m-%d %H:%M UTC').
Berth: release build, plain HTTP listener, data on the same disk as Distribution's; Distribution: filesystem
storage, in-memory blob descriptor cache. "Berth advantage" is how many times better Berth is (rates: Berth /
Distribution; times: Distribution / Berth). CPU ms/op is the server's user + system CPU during the timed part,
per operation (per blob for transfers, per image, per request, per page). Peak RSS is the server's \`VmHWM\`
during the scenario.

## The reference workload
Berth authenticates with a token (as docker does); Distribution runs without auth.

$(cat "$work/main.md")

## The cost of authentication
Berth with tokens against Distribution with htpasswd (bcrypt; Distribution checks it on every request).

$(cat "$work/auth.md")

Without credentials: Berth serving a public repository anonymously, Distribution without auth.

$(cat "$work/anon.md")

Raw figures: \`berth-bench --json FILE\` writes them; the notes column holds latency percentiles and counts.
MD
    printf '%s' "$kept"
} >"$out"
echo "benchmarks.sh: wrote $out"
