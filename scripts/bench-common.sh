# Sourced by the benchmark scripts: a release build, a work directory, and every process
# and directory started registered for removal on exit.
#
#   work, bench   the work directory and berth-bench
#   pids, dirs    what cleanup stops and removes
#   free_port     prints a free loopback port
#   start_peer PORT [USER PASSWORD]   starts Distribution; sets peer_pid, peer_url
#   start_berth [DIR [ARGS]]  starts Berth (plain HTTP, admin password $BENCH_PASSWORD, data in DIR,
#                             default $work/berth, extra `berth serve` ARGS) with the organization
#                             `bench` (kept if DIR already has it); sets berth_pid, berth
#   section NAME FILE         prints the <!-- NAME:start --> … <!-- NAME:end --> section of FILE
#   put_section NAME FILE TEXT   replaces that section of FILE with TEXT (or appends it)

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

section() { # NAME FILE
    python3 - "$1" "$2" <<'PY' 2>/dev/null || true
import re, sys
name, path = sys.argv[1], sys.argv[2]
m = re.search(r"<!-- %s:start -->.*?<!-- %s:end -->" % (name, name), open(path).read(), re.S)
print(m.group(0) if m else "")
PY
}

put_section() { # NAME FILE TEXT
    python3 - "$1" "$2" "$3" <<'PY'
import re, sys
name, path, section = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
pattern = re.compile(r"<!-- %s:start -->.*?<!-- %s:end -->" % (name, name), re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
}

export BENCH_PASSWORD=bench-admin-password
start_berth() { # [DIR [ARGS]] -> sets berth_pid, berth
    local port dir=${1:-$work/berth} code
    shift || true
    port=$(free_port)
    BERTH_ADMIN_PASSWORD=$BENCH_PASSWORD BERTH_LOG=${BERTH_LOG:-warn} target/release/berth serve --data-dir "$dir" \
        --https-listen "127.0.0.1:${BERTH_HTTPS_PORT:-0}" --http-listen "127.0.0.1:$port" "$@" >>"$work/berth.out" 2>>"$work/berth.log" &
    berth_pid=$!
    pids+=("$berth_pid")
    berth=http://127.0.0.1:$port
    for _ in $(seq 300); do curl -sf -o /dev/null "$berth/_ping" && break; sleep 0.1; done
    # Repositories live in a user's or an organization's namespace: the workload's is `bench`.
    code=$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$BENCH_PASSWORD" -X POST -H 'Content-Type: application/json' \
        -d '{"name":"bench","isOrg":true}' "$berth/api/v0/accounts")
    case "$code" in 201|409) ;; *) echo "start_berth: creating the organization bench answered $code" >&2; return 1 ;; esac
}
