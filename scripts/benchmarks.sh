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

# One certificate for both HTTPS listeners (P-256, as Berth generates its own).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
    -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
BERTH_HTTPS_PORT=$(free_port)
start_berth "$work/berth" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"
berth_tls=https://127.0.0.1:$BERTH_HTTPS_PORT
start_peer "$(free_port)"
plain_pid=$peer_pid plain_url=$peer_url
start_peer "$(free_port)" bench "$BENCH_PASSWORD"
auth_pid=$peer_pid auth_url=$peer_url
PEER_TLS_CERT=$work/tls.crt PEER_TLS_KEY=$work/tls.key start_peer "$(free_port)"
tls_pid=$peer_pid tls_url=$peer_url

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
# Over TLS, with HTTP/1.1 and then HTTP/2 (what docker and podman speak when offered).
for http in 1.1 2; do
    seed=$([ "$http" = 2 ] && echo 12 || echo 11)  # new blobs for each run
    "$bench" --name Berth --compare-name Distribution --url "$berth_tls" --cacert "$work/tls.crt" --user admin \
        --server-pid "$berth_pid" --compare "$tls_url" --compare-cacert "$work/tls.crt" --compare-pid "$tls_pid" \
        --http "$http" --scenario blob_push_large,blob_pull_large --seed "$seed" \
        --markdown "$work/tls-$http.md" --json "$work/tls-$http.json" "${extra[@]}"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
command="scripts/benchmarks.sh"
[ -z "${BENCH_ARGS:-}" ] || command="BENCH_ARGS='$BENCH_ARGS' scripts/benchmarks.sh"
workload="the reference workload of berth-bench's defaults (1 GiB blobs, 16 MiB chunks, 500 images, 16 clients, 64 connections for 15 s, 10,000 tags, 2,000 repositories)"
[ -z "${BENCH_ARGS:-}" ] || workload="$BENCH_ARGS on top of berth-bench's defaults (see \`berth-bench --help\`)"

# The sections other scripts write (benchmarks-cluster.sh, -ui.sh, -gc.sh, -binary.sh, -s3.sh, -events.sh, -webhooks.sh, -growth.sh, -docker.sh, -cache.sh) are kept as they are.
kept=""
for name in replication ui gc binary s3 events webhooks growth docker cache; do
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
per operation (per blob for transfers, per image, per request, per page); transfers also give it per GiB in the notes.
Peak RSS is the server's \`VmHWM\` during the scenario (reset to the current RSS as it starts, so it includes what the
process holds from earlier scenarios, and the binary's resident code: about 19 MiB for Berth).

## The reference workload
Berth authenticates with a token (as docker does); Distribution runs without auth.

$(cat "$work/main.md")

## The cost of authentication
Berth with tokens against Distribution with htpasswd (bcrypt; Distribution checks it on every request).

$(cat "$work/auth.md")

Without credentials: Berth serving a public repository anonymously, Distribution without auth.

$(cat "$work/anon.md")

## Over TLS
Both registries serve HTTPS with the same P-256 certificate (Berth with rustls and AWS-LC, Distribution with Go's
TLS); the client verifies it. Berth authenticates with a token, Distribution runs without auth.

HTTP/1.1:

$(cat "$work/tls-1.1.md")

HTTP/2 (ALPN \`h2\`; the client opens Go's windows, 4 MiB per stream and 1 GiB per connection, with 16 KiB frames):

$(cat "$work/tls-2.md")

Raw figures: \`berth-bench --json FILE\` writes them; the notes column holds latency percentiles and counts.
MD
    printf '%s' "$kept"
} >"$out"
echo "benchmarks.sh: wrote $out"
