#!/usr/bin/env bash
# Regenerates the "Pull-through cache" section of BENCHMARKS.md: pulls served from Berth's
# pull-through cache namespace against pulls from CNCF Distribution's proxy (`proxy.remoteurl`),
# both caching the same upstream (a third Distribution), in one run on loopback.
#
# The upstream holds one image of CACHE_LAYERS layers of CACHE_LAYER_MIB MiB (random bytes).
# The first pull through each cache fetches from the upstream (a miss, timed once); then
# `hyperfine` times whole pulls as a client makes them (the manifest by tag, then every
# blob, with curl over one connection) from each cache, alternately: the cache hit.
#
#   scripts/benchmarks-cache.sh
#   CACHE_LAYERS=16 CACHE_LAYER_MIB=32 CACHE_RUNS=20 scripts/benchmarks-cache.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
layers=${CACHE_LAYERS:-8}
layer_mib=${CACHE_LAYER_MIB:-16}
runs=${CACHE_RUNS:-10}
command -v hyperfine >/dev/null || { echo "benchmarks-cache.sh: apt-get install hyperfine" >&2; exit 1; }

source scripts/bench-common.sh

start_peer "$(free_port)"
upstream=$peer_url
PEER_PROXY_URL=$upstream start_peer "$(free_port)"
proxy=$peer_url
printf '[mirroring]\nallow_local_remotes = true\n' >"$work/berth.toml"
start_berth "$work/berth" --config "$work/berth.toml"
curl -sf -u "admin:$BENCH_PASSWORD" -X POST -H 'Content-Type: application/json' -d '{"name":"hub","isOrg":true}' \
    "$berth/api/v0/accounts" >/dev/null
curl -sf -u "admin:$BENCH_PASSWORD" -X PUT -H 'Content-Type: application/json' \
    -d "{\"upstream\":\"$upstream\",\"ttlSecs\":300,\"public\":true}" "$berth/api/v0/repositoryNamespaces/hub/pullThroughCache" >/dev/null

# The upstream's image.
push_blob() { # FILE -> digest
    local d location
    d=sha256:$(sha256sum "$1" | cut -d' ' -f1)
    location=$(curl -sf -D - -o /dev/null -X POST "$upstream/v2/library/bench/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    case "$location" in /*) location=$upstream$location ;; esac
    curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location&digest=$d"
    echo "$d"
}
entries=()
for i in $(seq "$layers"); do
    head -c $((layer_mib << 20)) /dev/urandom >"$work/layer$i"
    entries+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$(push_blob "$work/layer$i")\",\"size\":$((layer_mib << 20))}")
    rm "$work/layer$i"
done
printf '{"architecture":"amd64","os":"linux"}' >"$work/config"
config=$(push_blob "$work/config")
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$config\",\"size\":$(stat -c %s "$work/config")},\"layers\":[$(IFS=,; echo "${entries[*]}")]}"
curl -sf -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$manifest" \
    "$upstream/v2/library/bench/manifests/1.0"

# One client pull: the manifest by tag, then every blob, over one connection.
cat >"$work/pull.sh" <<'SH'
#!/usr/bin/env bash
set -euo pipefail
base=$1 repo=$2 auth=${3:-}
manifest=$(curl -sf ${auth:+-u "$auth"} -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$base/v2/$repo/manifests/1.0")
args=()
for d in $(grep -o 'sha256:[0-9a-f]\{64\}' <<<"$manifest"); do args+=(-o /dev/null "$base/v2/$repo/blobs/$d"); done
curl -sf ${auth:+-u "$auth"} "${args[@]}"
SH
chmod +x "$work/pull.sh"
berth_pull="$work/pull.sh $berth hub/library/bench admin:$BENCH_PASSWORD"
peer_pull="$work/pull.sh $proxy library/bench"

miss() { python3 -c 'import subprocess, sys, time; t = time.monotonic(); subprocess.run(sys.argv[1:], check=True); print(time.monotonic() - t)' "$@"; }
# shellcheck disable=SC2086
berth_miss=$(miss $berth_pull)
# shellcheck disable=SC2086
peer_miss=$(miss $peer_pull)
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/hits.json" "$berth_pull" "$peer_pull" >/dev/null

mib=$((layers * layer_mib))
read -r berth_mean peer_mean < <(python3 - "$work/hits.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(r[0]["mean"], r[1]["mean"])
PY
)
rate() { python3 -c "print(f'{$1 / $2:,.0f}')"; }
ratio() { python3 -c "print(f'{$2 / $1:.2f}')"; }
peer_version=$(docker-registry --version 2>/dev/null | awk '{print $3}')
text="<!-- cache:start -->
## Pull-through cache

Berth's pull-through cache namespace against CNCF Distribution $peer_version's proxy (\`proxy.remoteurl\`), both
caching the same upstream (a third Distribution) on loopback, $(date -u +%Y-%m-%d). One image of $layers layers of
$layer_mib MiB ($mib MiB). A pull is what a client does: the manifest by tag, then every blob, with curl over one
connection. The first pull through each cache fetches from the upstream; the cache hits are $runs pulls each
(hyperfine, after 2 warm-up pulls). Berth's tags are checked with the upstream every 300 s (\`ttlSecs\`);
Distribution's proxy asks the upstream for a tag's digest on every pull by tag.

| | Berth | Distribution proxy | Berth's speed vs the proxy |
|---|---|---|---|
| first pull (miss), s | $(printf '%.2f' "$berth_miss") | $(printf '%.2f' "$peer_miss") | $(ratio "$berth_miss" "$peer_miss")× |
| cache hit, s per pull | $(printf '%.3f' "$berth_mean") | $(printf '%.3f' "$peer_mean") | $(ratio "$berth_mean" "$peer_mean")× |
| cache hit, MiB/s | $(rate "$mib" "$berth_mean") | $(rate "$mib" "$peer_mean") | |

Produced by \`scripts/benchmarks-cache.sh\` (CACHE_LAYERS=$layers CACHE_LAYER_MIB=$layer_mib CACHE_RUNS=$runs).
<!-- cache:end -->"
put_section cache "$out" "$text"
echo "$text"
