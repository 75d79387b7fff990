#!/usr/bin/env bash
# Regenerates the "Growth" section of BENCHMARKS.md: how the cost of a page, a manifest GET
# and a small push, and the server's memory, grow with the registry.
#
# For each size (repositories in the catalog, tags in one repository) a new data directory
# is seeded by `berth-seed-registry` (the bench's catalog and tags fixtures, written as
# pushes write them: blobs published, commands applied by the state machine), a release
# Berth is started on it, and berth-bench runs catalog, tags_list, manifest_get and the
# small pushes against it, reading the fixtures as they are (`--seeded`).
#
#   scripts/benchmarks-growth.sh
#   GROWTH_SIZES="2000:10000 20000:100000" scripts/benchmarks-growth.sh   # repos:tags pairs
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
sizes=${GROWTH_SIZES:-2000:10000 20000:100000 200000:1000000}

source scripts/bench-common.sh
cargo build -q --release -p berth-bench --bin berth-seed-registry

rss() { awk -v k="$2:" '$1==k{printf "%.0f", $2/1024}' "/proc/$1/status"; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=""
for size in $sizes; do
    repos=${size%%:*} tags=${size##*:}
    dir=$work/growth-$repos
    seeded=$(target/release/berth-seed-registry --data-dir "$dir" --repos "$repos" --tags "$tags")
    store_mib=$(( $(stat -c %s "$dir/meta.redb") / 1048576 ))
    start_berth "$dir"
    sleep 2
    idle=$(rss "$berth_pid" VmRSS)
    "$bench" --name Berth --url "$berth" --user admin --server-pid "$berth_pid" --seeded \
        --repos "$repos" --tags "$tags" --images 200 --duration 10 \
        --scenario catalog,tags_list,manifest_get,small_push_seq,small_push \
        --json "$work/growth-$repos.json" >/dev/null
    end=$(rss "$berth_pid" VmRSS)
    row=$(python3 - "$work/growth-$repos.json" "$repos" "$tags" "$store_mib" "$idle" "$end" <<'PY'
import json, sys
path, repos, tags, store, idle, end = sys.argv[1:]
m = {r["scenario"]: r for r in json.load(open(path))}
page = lambda s: m[s]["figure"]["value"] / m[s]["figure"]["operations"]
peak = max(r["server_peak_rss_mib"] or 0 for r in m.values())
print(f"| {int(repos):,} | {int(tags):,} | {store} | {page('catalog'):.2f} ({m['catalog']['figure']['operations']} pages) "
      f"| {page('tags_list'):.2f} ({m['tags_list']['figure']['operations']} pages) "
      f"| {m['manifest_get']['figure']['value']:,.0f} | {m['small_push_seq']['figure']['value']:.1f} "
      f"| {m['small_push']['figure']['value']:.1f} | {idle} | {peak:.0f} | {end} |")
PY
)
    rows+="$row"$'\n'
    echo "benchmarks-growth.sh: $seeded; $row" >&2
    kill "$berth_pid"
    wait "$berth_pid" 2>/dev/null || true
    rm -rf "$dir"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

section=$(cat <<MD
<!-- growth:start -->
## Growth
How cost grows with the registry. For each size a new data directory holds that many
repositories of one image each (\`bench/c00000\`, …) and one repository with that many tags
(\`bench/tags\`), seeded by \`berth-seed-registry\` as pushes write them; a release Berth is
started on it and berth-bench runs against it (token auth; catalog pages of 100, tag pages
of 1,000; manifest GET with 64 connections for 10 s; 200 small images, sequentially and with
16 clients). Regenerate with \`scripts/benchmarks-growth.sh\`. Load average $load_before
before, $load_after after; $(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) CPUs.

| repositories | tags in one repository | store MiB | catalog ms/page | tags ms/page | manifest GET req/s | small push images/s, 1 client | 16 clients | RSS MiB idle | peak | at the end |
|---|---|---|---|---|---|---|---|---|---|---|
${rows%$'\n'}

Read down the table: a page should cost the same whatever the total, push and GET rates
should stay within 20% of each other, and memory bounded. "peak" is the highest \`VmHWM\` of
the scenarios; "at the end" the RSS after them. \`docs/performance-notes.md\` discusses the figures.
<!-- growth:end -->
MD
)
put_section growth "$out" "$section"
echo "benchmarks-growth.sh: wrote the growth section of $out"
