#!/usr/bin/env bash
# Regenerates the "The docker CLI" section of BENCHMARKS.md: the real `docker push` and
# `docker pull` of a 300 MB image of 5 layers, Berth against Distribution, in the same run.
#
# Each round builds a new image (5 layers of 60 MB of random bytes, so no layer is known to
# either registry), pushes it to both (Berth with `docker login` and its token flow,
# Distribution without auth; the order alternates), then removes it locally and pulls it from
# each in turn, removing it again in between so that each pull downloads every layer. Both
# registries listen on plain HTTP on loopback (docker treats 127.0.0.0/8 as insecure).
# Uses the running dockerd, or starts a private one as scripts/test.sh does.
#
#   scripts/benchmarks-docker.sh
#   DOCKER_ROUNDS=5 scripts/benchmarks-docker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
rounds=${DOCKER_ROUNDS:-3}

source scripts/bench-common.sh
if ! docker info >/dev/null 2>&1; then
    mkdir -p "$work/docker"
    /usr/sbin/dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
        --data-root="$work/docker/root" --exec-root="$work/docker/exec" -p "$work/docker/pid" \
        >"$work/docker/log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || { cat "$work/docker/log" >&2; exit 1; }
fi

start_berth
start_peer "$(free_port)"
berth_host=${berth#http://} peer_host=${peer_url#http://}
echo "$BENCH_PASSWORD" | docker login -u admin --password-stdin "$berth_host" >/dev/null

seconds() { local start=$EPOCHREALTIME; "$@" >/dev/null; awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }'; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=""
for round in $(seq "$rounds"); do
    build=$work/build-$round
    mkdir -p "$build"
    printf 'FROM scratch\n' >"$build/Dockerfile"
    for layer in 1 2 3 4 5; do
        head -c 60M /dev/urandom >"$build/layer$layer"
        printf 'COPY layer%s /layer%s\n' "$layer" "$layer" >>"$build/Dockerfile"
    done
    image=bench-docker:$round
    DOCKER_BUILDKIT=0 docker build -q -t "$image" "$build" >/dev/null
    rm -rf "$build"
    b=$berth_host/bench/docker:$round d=$peer_host/bench/docker:$round
    docker tag "$image" "$b"
    docker tag "$image" "$d"
    if [ $((round % 2)) -eq 1 ]; then
        bp=$(seconds docker push "$b"); dp=$(seconds docker push "$d")
    else
        dp=$(seconds docker push "$d"); bp=$(seconds docker push "$b")
    fi
    docker rmi -f "$image" "$b" "$d" >/dev/null
    bl=$(seconds docker pull "$b"); docker rmi -f "$b" >/dev/null
    dl=$(seconds docker pull "$d"); docker rmi -f "$d" >/dev/null
    rows+="| $round | $(printf '%.2f' "$bp") | $(printf '%.2f' "$dp") | $(printf '%.2f' "$bl") | $(printf '%.2f' "$dl") |"$'\n'
    echo "benchmarks-docker.sh: round $round: push $bp / $dp s, pull $bl / $dl s (Berth / Distribution)" >&2
done
docker logout "$berth_host" >/dev/null
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
medians=$(python3 - <<PY
import statistics
rows = [r.split("|")[2:6] for r in """$rows""".strip().splitlines()]
cols = [statistics.median(float(r[i]) for r in rows) for i in range(4)]
print(f"| median | {cols[0]:.2f} | {cols[1]:.2f} | {cols[2]:.2f} | {cols[3]:.2f} |")
print(f"\nMedian ratios (Distribution's time / Berth's): push {cols[1]/cols[0]:.2f}×, pull {cols[3]/cols[2]:.2f}×.")
PY
)

section=$(cat <<MD
<!-- docker:start -->
## The docker CLI
\`docker push\` and \`docker pull\` of a 300 MB image (5 layers of 60 MB of random bytes, new in each round), Berth
(token auth after \`docker login\`) against Distribution (no auth), both on plain HTTP on loopback, timed whole
(the client's work included: compressing layers on push, extracting them on pull with the vfs storage driver).
$(docker version --format 'Docker {{.Client.Version}}' 2>/dev/null). Regenerate with \`scripts/benchmarks-docker.sh\`.
Load average $load_before before, $load_after after; $(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) CPUs.

| round | Berth push s | Distribution push s | Berth pull s | Distribution pull s |
|---|---|---|---|---|
${rows%$'\n'}
$medians
<!-- docker:end -->
MD
)
put_section docker "$out" "$section"
echo "benchmarks-docker.sh: wrote the docker CLI section of $out"
