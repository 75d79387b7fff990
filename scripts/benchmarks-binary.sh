#!/usr/bin/env bash
# Regenerates the "Binary" section of BENCHMARKS.md: the size of the release binary (debug
# info stripped, as `cargo build --release` makes it; and with its symbols stripped too)
# against Distribution's (Debian's docker-registry).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCHMARKS_OUT:-BENCHMARKS.md}
source scripts/bench-common.sh

berth=target/release/berth
strip -o "$work/berth-stripped" "$berth"
peer=$(command -v docker-registry || echo /usr/bin/docker-registry)
mib() { python3 -c "import os,sys; print(f'{os.path.getsize(sys.argv[1]) / 2**20:.1f}')" "$1"; }
section=$(cat <<MD
<!-- binary:start -->
## Binary
One file holds the registry, the trust service, the web UI (templates and stylesheet compiled in), replication and
the CLI. \`cargo build --release\` strips debug info (\`--profile profiling\` keeps line tables for \`perf\`).
Regenerate with \`scripts/benchmarks-binary.sh\`; $(date -u +'%Y-%m-%d %H:%M UTC').

| binary | MiB |
|---|---|
| \`target/release/berth\` (as built) | $(mib "$berth") |
| the same with \`strip\` (no symbol table) | $(mib "$work/berth-stripped") |
| Distribution 2.8 (\`$peer\`, Debian) | $(mib "$peer") |
<!-- binary:end -->
MD
)
put_section binary "$out" "$section"
echo "benchmarks-binary.sh: updated the Binary section of $out"
