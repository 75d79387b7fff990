#!/usr/bin/env bash
# Regenerates the "Web UI" section of BENCHMARKS.md: how long Berth's list pages take
# with 10,000 tags in one repository and 2,000 repositories (berth-bench's `ui`
# scenarios: signed in through the login form, 4 clients for 15 s per page). No peer
# serves such pages: the target is absolute, p99 under 50 ms.
#
#   scripts/benchmarks-ui.sh
#   BENCH_ARGS="--duration 5" scripts/benchmarks-ui.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
extra=(${BENCH_ARGS:-})

source scripts/bench-common.sh
start_berth

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"$bench" --name Berth --url "$berth" --user admin --server-pid "$berth_pid" --scenario ui \
    --markdown "$work/ui.md" --json "$work/ui.json" "${extra[@]}"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
command="scripts/benchmarks-ui.sh"
[ -z "${BENCH_ARGS:-}" ] || command="BENCH_ARGS='$BENCH_ARGS' scripts/benchmarks-ui.sh"

section=$(cat <<MD
<!-- ui:start -->
## Web UI
Berth's list pages with 10,000 tags in one repository and 2,000 repositories, signed in as the administrator
(who sees every repository, so every one is checked against the policy), 4 clients loading the page for 15 s
each: the figure is the 99th percentile of the time to the whole page; the target is under 50 ms. No peer has
these pages, so there is no ratio. Regenerate this section with \`$command\`. Load average $load_before before,
$load_after after; $(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) CPUs.

- \`ui_repositories\`: the first page of the repository list; \`ui_search\`: a search by a part of the name
  that 2,000 repositories match;
- \`ui_tags\`: the first page of the tags by name (each row with its size, platforms, pushes, pulls and
  signatures); \`ui_tags_pushed\`: a page in the middle of the tags by push time.

$(cat "$work/ui.md")
<!-- ui:end -->
MD
)
put_section ui "$out" "$section"
echo "benchmarks-ui.sh: updated the Web UI section of $out"
