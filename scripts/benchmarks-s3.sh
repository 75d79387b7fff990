#!/usr/bin/env bash
# Regenerates the "S3" section of BENCHMARKS.md: Berth and CNCF Distribution (Debian's
# `docker-registry`) each keeping blobs in a bucket of the same S3-compatible server on
# loopback, measured alternately by berth-bench in the same run; then garbage collection
# on S3 against the server deleting as many objects on its own.
#
# The comparison runs on moto's server (PyPI, installed into ~/.cache/berth-moto):
# Distribution's S3 driver lists multipart uploads, which s3s-fs does not implement. The
# collection runs on s3s-fs, whose buckets are directories the unused blobs are written into.
#
#   scripts/benchmarks-s3.sh
#   S3_BLOB_MIB=512 GC_BLOBS=20000 scripts/benchmarks-s3.sh
#
# Needs s3s-fs (`cargo install s3s-fs --version 0.14.1 --features binary --locked`).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
blob_mib=${S3_BLOB_MIB:-256}
gc_blobs=${GC_BLOBS:-10000}

source scripts/bench-common.sh

s3s=$(command -v s3s-fs || echo "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs")
[ -x "$s3s" ] || { echo "benchmarks-s3.sh: cargo install s3s-fs --version 0.14.1 --features binary --locked" >&2; exit 1; }
moto=$HOME/.cache/berth-moto
[ -x "$moto/bin/moto_server" ] || { python3 -m venv "$moto" && "$moto/bin/pip" install -q 'moto[server]==5.2.5'; }
moto_port=$(free_port)
"$moto/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$moto_port/" && break; sleep 0.1; done
endpoint=http://127.0.0.1:$moto_port
curl -sf -X PUT "$endpoint/berth" >/dev/null
curl -sf -X PUT "$endpoint/distribution" >/dev/null

# Berth on the bucket `berth`.
export AWS_ACCESS_KEY_ID=AKIABENCH AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1
BERTH_STORAGE_KIND=s3 BERTH_S3_BUCKET=berth BERTH_S3_ENDPOINT=$endpoint start_berth

# Distribution on the bucket `distribution` (path-style requests, as an endpoint implies).
dist_port=$(free_port)
mkdir -p "$work/distribution"
cat >"$work/distribution/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  s3:
    accesskey: AKIABENCH
    secretkey: bench-secret-key
    region: us-east-1
    regionendpoint: $endpoint
    bucket: distribution
    secure: false
    v4auth: true
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$dist_port
YAML
# Its AWS SDK refuses to start with AWS_CA_BUNDLE set (some machines set it for every process).
env -u AWS_CA_BUNDLE docker-registry serve "$work/distribution/config.yml" >"$work/distribution/log" 2>&1 &
dist_pid=$!
pids+=("$dist_pid")
dist=http://127.0.0.1:$dist_port
for _ in $(seq 100); do curl -sf -o /dev/null "$dist/v2/" && break; sleep 0.1; done
curl -sf -o /dev/null "$dist/v2/" || { echo "benchmarks-s3.sh: Distribution did not start:" >&2; cat "$work/distribution/log" >&2; exit 1; }
curl -sf -o /dev/null "$berth/_ping" || { echo "benchmarks-s3.sh: Berth did not start:" >&2; cat "$work/berth.log" >&2; exit 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"$bench" --name Berth --compare-name Distribution --url "$berth" --user admin --server-pid "$berth_pid" \
    --compare "$dist" --compare-pid "$dist_pid" --blob-mib "$blob_mib" \
    --scenario blob_push_large,blob_push_chunked,blob_pull_large,small_push,manifest_get \
    --markdown "$work/s3.md" --json "$work/s3.json"

# Garbage collection on S3: a second Berth on a bucket of s3s-fs; unused blobs written
# straight into the bucket's directory (s3s-fs serves a bucket's files as its objects),
# collected online; the server alone deleting as many objects, one DELETE each over one
# connection (curl signs them).
kill "$berth_pid"
while kill -0 "$berth_pid" 2>/dev/null; do sleep 0.1; done
s3dir=$work/s3
mkdir -p "$s3dir/berth" "$s3dir/alone"
s3port=$(free_port)
"$s3s" --host 127.0.0.1 --port "$s3port" --access-key AKIABENCH --secret-key bench-secret-key "$s3dir" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$s3port/" && break; sleep 0.1; done
endpoint=http://127.0.0.1:$s3port
rm -rf "$work/berth"
BERTH_STORAGE_KIND=s3 BERTH_S3_BUCKET=berth BERTH_S3_ENDPOINT=$endpoint start_berth
seed() { # DIR COUNT SEED
    python3 - "$1" "$2" "$3" <<'PY'
import hashlib, os, sys
root, count, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(count):
    body = hashlib.sha256(f"{seed}-{i}".encode()).digest() * 32
    hexd = hashlib.sha256(body).hexdigest()
    d = os.path.join(root, "blobs", "sha256", hexd[:2])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hexd), "wb") as f:
        f.write(body)
PY
}
seed "$s3dir/berth" "$gc_blobs" berth
seed "$s3dir/alone" "$gc_blobs" alone
sync
(cd "$s3dir/alone" && find blobs -type f | sed "s|^|url = \"$endpoint/alone/|; s|$|\"|") >"$work/deletes.cfg"
started=$(date +%s.%N)
# (This curl does not add the payload hash S3 servers require: it is that of the empty body.)
curl -s -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user AKIABENCH:bench-secret-key \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" -X DELETE -K "$work/deletes.cfg"
alone_secs=$(python3 -c "import time,sys; print(f'{time.time() - float(sys.argv[1]):.2f}')" "$started")
alone_left=$(find "$s3dir/alone/blobs" -type f | wc -l)
started=$(date +%s.%N)
report=$(BERTH_PASSWORD=$BENCH_PASSWORD target/release/berth gc --server "$berth" --grace-seconds 0 2>/dev/null)
gc_secs=$(python3 -c "import time,sys; print(f'{time.time() - float(sys.argv[1]):.2f}')" "$started")
left=$(find "$s3dir/berth/blobs" -type f | wc -l)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
rates=$(python3 - "$gc_blobs" "$alone_secs" "$gc_secs" <<'PY'
import sys
n, alone, gc = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"| the S3 server alone (one DELETE each, one connection) | {alone:.2f} s | {n / alone:,.0f} |")
print(f"| Berth's collection (one paged listing, check in the metadata, retire, bulk delete, forget) | {gc:.2f} s | {n / gc:,.0f} |")
print(f"\nThe collection deletes at {alone / gc:.2f}× the server's own rate (target: at least 0.5×).")
PY
)

section=$(cat <<MD
<!-- s3:start -->
## S3 storage
Both registries keep their blobs in a bucket of one S3 server on loopback, moto 5.2.5's (Python, in memory;
Distribution's driver needs ListMultipartUploads, which s3s-fs lacks), so the server's own speed bounds both; Berth
with \`[storage] kind = "s3"\` (8 MiB parts), Distribution
$(docker-registry --version 2>/dev/null | awk '{print $3}') with its \`s3\` driver (its default 10 MiB chunks). Measured alternately by \`berth-bench\`
in the same run, $blob_mib MiB blobs; Berth with token auth, Distribution without auth. Distribution answers a blob
GET with a redirect to the S3 server (its driver's default), so its pulls run at the S3 server's own speed and
cost it no CPU; Berth streams pulls itself (clients need no route to the bucket). Regenerate with
\`scripts/benchmarks-s3.sh\` (\`S3_BLOB_MIB\`, \`GC_BLOBS\`). Load average $load_before before, $load_after after;
$(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) CPUs.

$(cat "$work/s3.md")

### Garbage collection on S3
On s3s-fs 0.14.1 (Rust, files on disk, signatures checked): $gc_blobs unused 1 KiB blobs written into a fresh Berth's bucket, collected online by
\`berth gc --grace-seconds 0\`; against the same server deleting as many objects on its own. A collection lists
\`blobs/\` once, 1000 keys a page (s3s-fs walks the bucket's directories for each page; an S3 service lists from an
index), and deletes 500 keys per \`DeleteObjects\` request. The run's report: "$report"; blobs left: $left (the server alone left $alone_left).

| deleting $gc_blobs blobs | time | blobs/s |
|---|---|---|
$rates
<!-- s3:end -->
MD
)
put_section s3 "$out" "$section"
echo "benchmarks-s3.sh: updated the S3 section of $out"
