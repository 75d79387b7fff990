#!/usr/bin/env bash
# Regenerates the "Audit log at scale" section of BENCHMARKS.md: how fast filtered pages of
# `GET /api/v0/events` answer with millions of events stored, and what retention removing
# half of them costs the pushes that run meanwhile.
#
# A new metadata store is seeded with N pull events (default 10,000,000) over 2,000
# repositories, 500 users and the last 30 days by `berth-seed-events`, written through the
# state machine as recorded pulls are; a release Berth is started on it (organization, a
# public repository, a user) and each kind of page is asked for 20 times over one
# keep-alive connection. Then it is restarted with
# `[events] keep_count = N/2`: small pushes are timed while retention removes the older
# half, and again once it is done.
#
#   scripts/benchmarks-events.sh
#   EVENTS_COUNT=1000000 scripts/benchmarks-events.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
count=${EVENTS_COUNT:-10000000}
requests=20

source scripts/bench-common.sh
cargo build -q --release -p berth-bench --bin berth-seed-events

# Seeded into a new store before Berth first starts on it: event times never decrease
# with ids, so the month of history has to come before anything Berth records itself.
mkdir -p "$work/berth"
seeded=$(target/release/berth-seed-events --store "$work/berth/meta.redb" --count "$count")
store_mib=$(( $(stat -c %s "$work/berth/meta.redb") / 1048576 ))
start_berth
curl -sf -u "admin:$BENCH_PASSWORD" -X POST -H 'Content-Type: application/json' \
    -d '{"name":"repo-7","visibility":"public"}' "$berth/api/v0/repositories/bench" >/dev/null
curl -sf -u "admin:$BENCH_PASSWORD" -X POST -H 'Content-Type: application/json' \
    -d "{\"name\":\"reader\",\"password\":\"$BENCH_PASSWORD\"}" "$berth/api/v0/accounts" >/dev/null

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=$(python3 - "$berth" "$BENCH_PASSWORD" "$requests" <<'PY'
import base64, http.client, json, statistics, sys, time, urllib.parse
url, password, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
host = urllib.parse.urlparse(url).netloc
now = int(time.time())
day = 86400

def get(conn, user, path):
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    start = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Basic {auth}"})
    resp = conn.getresponse()
    body = resp.read()
    elapsed = (time.perf_counter() - start) * 1000
    if resp.status != 200:
        sys.exit(f"{path}: {resp.status} {body[:200]!r}")
    return elapsed, json.loads(body)["events"], resp.getheader("Link")

def measure(user, what, path):
    conn = http.client.HTTPConnection(host)
    get(conn, user, path)  # the connection and the login cache, not timed
    times, returned, link = [], 0, None
    for _ in range(requests):
        ms, events, link = get(conn, user, path)
        times.append(ms)
        returned = len(events)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"| {what} | `{path}` | {user} | {returned}{' + next' if link else ''} | {statistics.median(times):.1f} | {p99:.1f} |")

conn = http.client.HTTPConnection(host)
_, newest, _ = get(conn, "admin", "/api/v0/events?limit=1")
middle = newest[0]["id"] // 2
cases = [
    ("admin", "newest page, no filter", "/api/v0/events?limit=50"),
    ("admin", "one repository", "/api/v0/events?repository=bench/repo-1234&limit=50"),
    ("admin", "one user", "/api/v0/events?user=user-321&limit=50"),
    ("admin", "one type", "/api/v0/events?type=MANIFEST_PULL&limit=50"),
    ("admin", "repository and user (rare together)", "/api/v0/events?repository=bench/repo-1234&user=user-321&limit=50"),
    ("admin", "one hour, 10 days ago", f"/api/v0/events?since={now - 10 * day}&until={now - 10 * day + 3600}&limit=50"),
    ("admin", "repository within one day, 20 days ago", f"/api/v0/events?repository=bench/repo-99&since={now - 20 * day}&until={now - 19 * day}&limit=50"),
    ("admin", "deep page (half way back)", f"/api/v0/events?before={middle}&limit=50"),
    ("admin", "the largest page", "/api/v0/events?limit=1000"),
    ("reader", "a user who may read 1 of 2,000 repositories, no filter", "/api/v0/events?limit=50"),
    ("reader", "that user, their repository", "/api/v0/events?repository=bench/repo-7&limit=50"),
]
for user, what, path in cases:
    measure(user, what, path)
PY
)

# Retention: keep the newest half. Small pushes while it runs, then after.
kill "$berth_pid"
wait "$berth_pid" 2>/dev/null || true
keep=$((count / 2))
printf '[events]\nkeep_count = %s\n' "$keep" >"$work/retention.toml"
BERTH_LOG=warn,berth::cli=info start_berth "$work/berth" --config "$work/retention.toml"
restarted=$(date +%s.%N)
pushes() { # NAME SEED: 100 small images one after another, figures in $work/NAME.json
    "$bench" --url "$berth" --user admin --server-pid "$berth_pid" --scenario small_push_seq \
        --images 100 --seed "$2" --json "$work/$1.json" >/dev/null 2>&1
}
during=()
for round in $(seq 1 400); do
    pushes "during-$round" "$((10 + round))"
    during+=("$work/during-$round.json")
    grep -q "old audit events removed" "$work/berth.log" && break
done
removed_line=$(grep -m1 "old audit events removed" "$work/berth.log" | sed -E 's/^([^ ]+) .*removed=([0-9]+).*/\2 removed, logged at \1/' || true)
[ -n "$removed_line" ] || removed_line="not finished after ${#during[@]} rounds"
pushes after 200
# Pulls: 64 connections pulling one tag for 10 s, then what the audit log holds of them
# once a flush interval (pull_flush_secs, 10 s) has passed.
pull_since=$(date +%s)
"$bench" --url "$berth" --user admin --server-pid "$berth_pid" --scenario manifest_get --duration 10 \
    --json "$work/pulls.json" >/dev/null 2>&1
sleep 12
pulls=$(python3 - "$berth" "$BENCH_PASSWORD" "$pull_since" "$work/pulls.json" <<'PY'
import base64, json, sys, urllib.request
url, password, since, figures = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
measured = next(m for m in json.load(open(figures)) if m["scenario"] == "manifest_get")
auth = base64.b64encode(f"admin:{password}".encode()).decode()
path, events, counted = f"/api/v0/events?type=TAG_PULL&since={since}&limit=1000", 0, 0
while path:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(request) as response:
        page = json.load(response)
        link = response.headers.get("Link")
    events += len(page["events"])
    counted += sum(e["count"] for e in page["events"])
    path = link[1:link.index(">")] if link else None
print(f"{measured['figure']['operations']:,} pulls by tag in 10 s ({measured['figure']['value']:,.0f} req/s) became "
      f"{events} TAG_PULL events whose counts add up to {counted:,}")
PY
)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
retention=$(python3 - "$restarted" "$work/after.json" "${during[@]}" <<'PY'
import json, sys
restarted, after, during = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
def figure(path):
    for measured in json.load(open(path)):
        if measured["scenario"] == "small_push_seq":
            return measured["figure"]
    sys.exit(f"{path}: no small_push_seq")
rounds = sorted((figure(p) for p in during), key=lambda f: f["value"])
print(f"| while retention runs: the slowest of {len(rounds)} rounds | {rounds[0]['value']:.1f} {rounds[0]['unit']} | {rounds[0]['notes']} |")
middle = rounds[len(rounds) // 2]
print(f"| while retention runs: the median round | {middle['value']:.1f} {middle['unit']} | {middle['notes']} |")
f = figure(after)
print(f"| after | {f['value']:.1f} {f['unit']} | {f['notes']} |")
PY
)

section=$(cat <<MD
<!-- events:start -->
## Audit log at scale
$seeded (\`berth-seed-events\`: pulls over 2,000 repositories, 500 users and 30 days, written through the
state machine as recorded pulls are); the metadata store is then $store_mib MiB. Each page asked for $requests times over
one keep-alive connection, Basic credentials (checked once, then cached); times in milliseconds, measured by
the client. Regenerate with \`scripts/benchmarks-events.sh\` (\`EVENTS_COUNT=N\` for another count). Target: a
filtered page in under 100 ms. Load average $load_before before, $load_after after; $(date -u +'%Y-%m-%d %H:%M UTC'),
$(nproc) CPUs.

| page | request | as | events returned | p50 ms | p99 ms |
|---|---|---|---|---|---|
$rows

A page reads the indexes of its filters newest first (several are merged without reading an event) and looks at no
more than 20,000 index entries: when the matches are rarer than that (the user who may read one repository in
2,000), it returns what it found with a \`Link\` to the next page instead of reading on, so no page costs more than
that however many events are stored.

Retention: the same store restarted with \`[events] keep_count = $keep\`; it removes the older half in commands of
2,000 events with a 50 ms pause after each, in which other writes go first (the server's log: $removed_line). Rounds of 100 small images
pushed one after another (\`berth-bench --scenario small_push_seq --images 100\`) from the restart until it is
done, then one more:

| small pushes | rate | latency |
|---|---|---|
$retention

Pulls are counted per image, user, token and address, and written every \`pull_flush_secs\` (10 s) as one event
each: \`berth-bench --scenario manifest_get --duration 10\` (64 connections, one tag) on the same server: $pulls.
<!-- events:end -->
MD
)
put_section events "$out" "$section"
echo "benchmarks-events.sh: updated the Audit log at scale section of $out"
