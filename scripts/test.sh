#!/usr/bin/env bash
# Runs every test of the workspace, with the real clients the end-to-end tests drive.
#
# - installs what the tests need from Debian (docker.io, skopeo, podman, notary, slapd
#   and ldap-utils for the LDAP tests, chromium and chromium-driver for the web UI's
#   browser test) when missing;
# - starts a private dockerd (vfs storage, no networking setup, a registry mirror on
#   localhost:5999 for the pull-through cache's test) unless one already answers, and
#   stops it again by its pid;
# - installs s3s-fs (an S3-compatible server, from crates.io) when missing, for the
#   storage suite on S3 and the end-to-end tests on S3;
# - installs openapi-python-client (from PyPI, in a virtual environment) when missing,
#   for the test that drives the API with a client generated from its OpenAPI document;
# - runs `cargo test --workspace` with BERTH_REQUIRE_CLIENTS=1, so a client that
#   cannot run fails its test instead of skipping it;
# - then runs the blob, upload, garbage-collection and docker tests again with every
#   server on S3 (BERTH_TEST_STORAGE=s3; the whole e2e suite runs so as well);
# - then runs the README's shell blocks against a fresh server (scripts/readme-check.sh).
#
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p berth-core`); with them,
# the S3 pass is left out.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v /usr/bin/docker >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v tar >/dev/null 2>&1 || need+=(tar)
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapadd >/dev/null 2>&1 || need+=(ldap-utils)
command -v notary >/dev/null 2>&1 || need+=(notary)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
if ! command -v s3s-fs >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ]; then
    echo "test.sh: installing s3s-fs 0.14.1 (an S3-compatible test server)"
    cargo install -q s3s-fs --version 0.14.1 --features binary --locked
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "test.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

openapi_venv="${BERTH_OPENAPI_VENV:-$HOME/.cache/berth-openapi}"
if [ ! -x "$openapi_venv/bin/openapi-python-client" ]; then
    echo "test.sh: installing openapi-python-client 0.29.1 (the generated API client's test)"
    python3 -m venv "$openapi_venv"
    "$openapi_venv/bin/pip" install -q openapi-python-client==0.29.1
fi
export BERTH_OPENAPI_VENV="$openapi_venv"

docker_dir=""
docker_pid=""
cleanup() {
    if [ -n "$docker_pid" ]; then
        kill "$docker_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$docker_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if [ -n "$docker_dir" ]; then rm -rf "$docker_dir" 2>/dev/null || true; fi
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
    docker_dir=$(mktemp -d)
    # Docker Hub's images are pulled through a registry mirror on localhost:5999, which the
    # pull-through cache's test serves (nothing answers there otherwise: docker goes on to
    # Docker Hub, as without a mirror).
    /usr/sbin/dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
        --registry-mirror https://localhost:5999 \
        --data-root="$docker_dir/root" --exec-root="$docker_dir/exec" -p "$docker_dir/pid" \
        >"$docker_dir/log" 2>&1 &
    export BERTH_DOCKER_MIRROR=localhost:5999
    docker_pid=$!
    for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    if ! docker info >/dev/null 2>&1; then
        echo "test.sh: dockerd did not start; its log:" >&2
        cat "$docker_dir/log" >&2
        exit 1
    fi
fi

# The layering the crates promise (docs/architecture.md): no HTTP server below the top
# crate, no HTTP or TLS of their own (berth-storage's S3 client is object_store's), and
# only berth-meta opens the metadata database.
for crate in berth-core berth-storage berth-meta berth-registry; do
    if cargo tree -q -e normal -p "$crate" | grep -qE '^[^a-z]*axum '; then
        echo "test.sh: $crate must not depend on an HTTP server" >&2
        exit 1
    fi
    if cargo tree -q -e normal -p "$crate" --depth 1 | grep -qE '^[^a-z]*(hyper|rustls|reqwest) '; then
        echo "test.sh: $crate must not speak HTTP or TLS itself" >&2
        exit 1
    fi
done
for crate in berth-core berth-storage berth-registry; do
    if cargo tree -q -e normal -p "$crate" --depth 1 | grep -qE '^[^a-z]*redb '; then
        echo "test.sh: only berth-meta may depend on redb ($crate does)" >&2
        exit 1
    fi
done
# The HTTP layer reaches metadata and blobs only through the services (berth-services
# opens the stores and hands over registry, auth and trust).
if cargo tree -q -e normal -p berth --depth 1 | grep -qE '^[^a-z]*(berth-meta|berth-storage) '; then
    echo "test.sh: berth must not depend on berth-meta or berth-storage; go through a service" >&2
    exit 1
fi
cargo fmt --all --check
cargo clippy -q --workspace --all-targets -- -D warnings

export BERTH_REQUIRE_CLIENTS=1
cargo test --workspace "$@"
if [ $# -eq 0 ]; then
    BERTH_TEST_STORAGE=s3 cargo test --workspace --test e2e -- blobs:: uploads:: gc:: quotas:: crash:: \
        clients::docker_push_and_pull_a_multi_layer_image_and_a_manifest_list
    cargo build -q -p berth
    BERTH_BIN="${CARGO_TARGET_DIR:-target}/debug/berth" scripts/readme-check.sh
fi
