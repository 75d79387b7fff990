#!/usr/bin/env bash
# Regenerates the "Webhooks" section of BENCHMARKS.md: what ten webhooks on every push cost
# the pushes, on Berth and on CNCF Distribution (ten `notifications.endpoints`), in one run.
#
# One HTTP receiver (answers 200 at once, counts what it gets); Berth with ten TAG_PUSH
# webhooks on the namespace and Distribution with ten endpoints both send it every push.
# berth-bench pushes small images one after another and 16 at a time: Berth hooked against
# Distribution hooked, then Berth hooked against Berth without hooks.
#
#   scripts/benchmarks-webhooks.sh
#   WEBHOOK_IMAGES=1000 scripts/benchmarks-webhooks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
images=${WEBHOOK_IMAGES:-300}
hooks=10

source scripts/bench-common.sh

receiver_port=$(free_port)
python3 - "$receiver_port" "$work/received" <<'PY' &
import http.server, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
count, lock = [0], threading.Lock()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            count[0] += 1
            open(path, "w").write(str(count[0]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
pids+=($!)
receiver=http://127.0.0.1:$receiver_port/hook

printf '[webhooks]\nallow_local_endpoints = true\n' >"$work/hooks.toml"
start_berth "$work/plain"
plain_pid=$berth_pid plain=$berth
start_berth "$work/hooked" --config "$work/hooks.toml"
for n in $(seq "$hooks"); do
    curl -sf -u "admin:$BENCH_PASSWORD" -X POST -H 'Content-Type: application/json' \
        -d "{\"type\":\"TAG_PUSH\",\"key\":\"bench\",\"endpoint\":\"$receiver?n=$n\"}" "$berth/api/v0/webhooks" >/dev/null
done
PEER_NOTIFY_URL=$receiver PEER_NOTIFY_COUNT=$hooks start_peer "$(free_port)"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
scenarios=(--scenario small_push_seq,small_push --images "$images")
"$bench" --name "Berth, $hooks hooks" --url "$berth" --user admin --server-pid "$berth_pid" \
    --compare-name "Distribution, $hooks endpoints" --compare "$peer_url" --compare-pid "$peer_pid" \
    "${scenarios[@]}" --markdown "$work/peer.md" >/dev/null
"$bench" --name "Berth, $hooks hooks" --url "$berth" --user admin --server-pid "$berth_pid" \
    --compare-name "Berth, no hooks" --compare "$plain" --compare-user admin --compare-password "$BENCH_PASSWORD" \
    --compare-pid "$plain_pid" "${scenarios[@]}" --seed 2 --markdown "$work/self.md" >/dev/null
# Deliveries go on after the pushes are answered: wait until the receiver hears no more.
last=-1
for _ in $(seq 60); do
    now=$(cat "$work/received" 2>/dev/null || echo 0)
    [ "$now" = "$last" ] && break
    last=$now
    sleep 2
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
received=$(cat "$work/received" 2>/dev/null || echo 0)

section=$(cat <<MD
<!-- webhooks:start -->
## Webhooks
What delivering every push to $hooks webhooks costs the pushes: Berth with $hooks \`TAG_PUSH\` hooks on the namespace
against Distribution with $hooks \`notifications.endpoints\`, then against Berth without hooks, all measured alternately
in one run; one local receiver answers them all (it got $received requests in the run). $images small images per
scenario, one at a time, then 16 clients at a time. Berth queues each delivery in the push's own command and sends it
from a background worker (signed, retried, logged), so a push waits for neither the receiver nor the signing;
Distribution queues its notifications in memory (lost if it stops). The posting is not free: in the second table
the hooked Berth is still sending the deliveries of the scenarios before (ten posts per push, each signed and
logged, on the same two cores as the pushes and the receiver), which is what slows its sequential pushes.
Regenerate with
\`scripts/benchmarks-webhooks.sh\` (\`WEBHOOK_IMAGES=N\` for another count). Load average $load_before before,
$load_after after; $(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) CPUs.

$(cat "$work/peer.md")

$(cat "$work/self.md")
<!-- webhooks:end -->
MD
)
put_section webhooks "$out" "$section"
echo "benchmarks-webhooks.sh: updated the Webhooks section of $out"
