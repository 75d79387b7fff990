# Sourced by the benchmark scripts: a release build, a work directory, and every process
# and directory started registered for removal on exit.
#
#   work, bench   the work directory and berth-bench
#   pids, dirs    what cleanup stops and removes
#   free_port     prints a free loopback port
#   start_peer PORT [USER PASSWORD]   starts Distribution; sets peer_pid, peer_url

cargo build -q --release -p berth -p berth-bench
bench=target/release/berth-bench
work=$(mktemp -d /tmp/berth-benchmarks.XXXXXX)
pids=()
dirs=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for dir in "${dirs[@]}"; do rm -rf "$dir"; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_peer() { # PORT [USER PASSWORD] -> sets peer_pid, peer_url
    local line
    line=$(scripts/peer-distribution.sh "$@")
    peer_pid=$(sed -E 's/.*pid=([0-9]+).*/\1/' <<<"$line")
    dirs+=("$(sed -E 's/.*dir=([^ ]+).*/\1/' <<<"$line")")
    peer_url=$(sed -E 's/.*url=([^ ]+).*/\1/' <<<"$line")
    pids+=("$peer_pid")
}
