#!/usr/bin/env bash
# Regenerates the "Replication" section of BENCHMARKS.md: small-image pushes and manifest
# GETs through a 3-replica cluster against one replica, measured alternately in the same
# run by berth-bench, and one replica against CNCF Distribution (what replication costs a
# single `berth serve`: nothing, it is a one-member cluster).
#
#   scripts/benchmarks-cluster.sh
#   BENCH_ARGS="--seconds 5" scripts/benchmarks-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
extra=(${BENCH_ARGS:-})

source scripts/bench-common.sh
berth=target/release/berth
export BENCH_PASSWORD=bench-admin-password BERTH_ADMIN_PASSWORD=bench-admin-password BERTH_LOG=warn
wait_serving() { # URL
    for _ in $(seq 300); do curl -sf -o /dev/null "$1/_ping" && return 0; sleep 0.1; done
    echo "benchmarks-cluster.sh: $1 did not start" >&2
    exit 1
}

# One replica.
single_port=$(free_port)
"$berth" serve --data-dir "$work/single" --https-listen "127.0.0.1:$(free_port)" --http-listen "127.0.0.1:$single_port" \
    >"$work/single.out" 2>"$work/single.log" &
single_pid=$!
pids+=("$single_pid")
single=http://127.0.0.1:$single_port
wait_serving "$single"

# Three replicas sharing one blob directory; the benchmark talks to a follower, so every
# write is forwarded to the leader and every read of a tag asks the leader for its
# commit index.
https=() http=() cpids=()
for i in 0 1 2; do https+=("$(free_port)"); http+=("$(free_port)"); done
replica() { # INDEX [join args...]
    local i=$1; shift
    local command=(serve)
    [ $# -eq 0 ] || command=("$@")
    "$berth" "${command[@]}" --data-dir "$work/replica$i" --storage-dir "$work/shared-blobs" \
        --https-listen "127.0.0.1:${https[$i]}" --http-listen "127.0.0.1:${http[$i]}" \
        --advertise "https://127.0.0.1:${https[$i]}" >"$work/replica$i.out" 2>"$work/replica$i.log" &
    cpids+=($!)
    pids+=($!)
    wait_serving "http://127.0.0.1:${http[$i]}"
}
replica 0
for i in 1 2; do
    token=$(curl -sf -u "admin:$BENCH_PASSWORD" -X POST "http://127.0.0.1:${http[0]}/api/v0/meta/join_tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    replica "$i" join --existing "https://127.0.0.1:${https[0]}" --token "$token"
done
status=$(curl -sf -u "admin:$BENCH_PASSWORD" "http://127.0.0.1:${http[0]}/api/v0/meta/cluster_status")
leader=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["leader"])' "$status")
follower=1
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d["members"])==3, d' "$status"
if grep -q "replica $leader " "$work/replica1.out"; then follower=2; fi
cluster=http://127.0.0.1:${http[$follower]}

start_peer "$(free_port)"

for url in "$single" "$cluster"; do
    curl -sf -u "admin:$BENCH_PASSWORD" -X POST -H 'Content-Type: application/json' \
        -d '{"name":"bench","isOrg":true}' "$url/api/v0/accounts" >/dev/null || true
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"$bench" --name "3 replicas" --url "$cluster" --user admin --server-pid "${cpids[$follower]}" \
    --compare-name "1 replica" --compare "$single" --compare-user admin --compare-password "$BENCH_PASSWORD" --compare-pid "$single_pid" \
    --scenario small_push_seq,small_push,manifest_get --markdown "$work/cluster.md" --json "$work/cluster.json" "${extra[@]}"
"$bench" --name "Berth (1 replica)" --url "$single" --user admin --server-pid "$single_pid" \
    --compare-name Distribution --compare "$peer_url" --compare-pid "$peer_pid" --seed 3 \
    --scenario small_push_seq,small_push,manifest_get --markdown "$work/single.md" --json "$work/single.json" "${extra[@]}"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
command="scripts/benchmarks-cluster.sh"
[ -z "${BENCH_ARGS:-}" ] || command="BENCH_ARGS='$BENCH_ARGS' scripts/benchmarks-cluster.sh"

section=$(cat <<MD
<!-- replication:start -->
## Replication
A 3-replica cluster on this one machine (three processes sharing one blob directory and its 2 CPUs), driven
through a follower, against a single replica, alternately in the same run; then the single replica against
Distribution. Regenerate this section with \`$command\`. Load average $load_before before, $load_after after;
$(date -u +'%Y-%m-%d %H:%M UTC'). CPU and RSS are those of the replica the clients talk to.

Through a follower, every push is forwarded to the leader, which writes it to its log and waits for one of the two
others to write it too (each with an fsync) before answering; a tag read first asks the leader for its commit
index (reads of one moment share that round trip); a read by digest is answered locally.

$(cat "$work/cluster.md")

One replica (a one-member cluster: every command still goes through the Raft log) against Distribution:

$(cat "$work/single.md")
<!-- replication:end -->
MD
)
put_section replication "$out" "$section"
echo "benchmarks-cluster.sh: updated the Replication section of $out"
