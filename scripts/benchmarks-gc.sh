#!/usr/bin/env bash
# Regenerates the "Garbage collection" section of BENCHMARKS.md: how fast an online
# collection examines and deletes unused blobs, against the storage backend deleting the
# same number of files on its own, in the same run.
#
# N unused blobs (1 KiB each, default 50,000) are written straight into a running
# Berth's blob directory (blobs nothing links, as an interrupted push leaves them), then
# `berth gc --grace-seconds 0` collects them while the server serves. The backend alone:
# the same number of files, in the same layout on the same disk, removed one by one.
#
#   scripts/benchmarks-gc.sh
#   GC_BLOBS=250000 scripts/benchmarks-gc.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
blobs=${GC_BLOBS:-50000}

source scripts/bench-common.sh
start_berth

seed() { # DIR COUNT SEED: COUNT files of 1 KiB under DIR/sha256/<xx>/<hex>
    python3 - "$1" "$2" "$3" <<'PY'
import hashlib, os, sys
root, count, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(count):
    body = hashlib.sha256(f"{seed}-{i}".encode()).digest() * 32
    hexd = hashlib.sha256(body).hexdigest()
    d = os.path.join(root, "sha256", hexd[:2])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hexd), "wb") as f:
        f.write(body)
PY
}

seed "$work/berth/storage/blobs" "$blobs" berth
seed "$work/alone" "$blobs" alone
sync

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
alone_secs=$(python3 - "$work/alone" <<'PY'
import os, sys, time
root = os.path.join(sys.argv[1], "sha256")
start = time.monotonic()
for shard in sorted(os.listdir(root)):
    d = os.path.join(root, shard)
    for name in os.listdir(d):
        os.remove(os.path.join(d, name))
print(f"{time.monotonic() - start:.2f}")
PY
)
started=$(date +%s.%N)
report=$(BERTH_PASSWORD=$BENCH_PASSWORD target/release/berth gc --server "$berth" --grace-seconds 0 2>/dev/null)
gc_secs=$(python3 -c "import time,sys; print(f'{time.time() - float(sys.argv[1]):.2f}')" "$started")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
left=$(find "$work/berth/storage/blobs" -type f | wc -l)
rates=$(python3 - "$blobs" "$alone_secs" "$gc_secs" <<'PY'
import sys
n, alone, gc = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"| backend alone (remove, one by one) | {alone:.2f} s | {n / alone:,.0f} |")
print(f"| Berth's collection (list, check in the metadata, retire, delete, forget) | {gc:.2f} s | {n / gc:,.0f} |")
print(f"\nThe collection deletes at {alone / gc:.2f}× the backend's own rate (target: at least 0.5×).")
PY
)

section=$(cat <<MD
<!-- gc:start -->
## Garbage collection
$blobs unused 1 KiB blobs written into a running Berth's filesystem storage, then collected online by
\`berth gc --grace-seconds 0\` (the time includes the CLI's start and its polling); against the backend alone
removing as many files, in the same layout on the same disk, one by one. Regenerate with \`scripts/benchmarks-gc.sh\`
(\`GC_BLOBS=N\` for another count). Load average $load_before before, $load_after after;
$(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) CPUs. The run's report: "$report"; blob files left: $left.

| deleting $blobs blobs | time | blobs/s |
|---|---|---|
$rates
<!-- gc:end -->
MD
)
put_section gc "$out" "$section"
echo "benchmarks-gc.sh: updated the Garbage collection section of $out"
