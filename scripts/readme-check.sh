#!/usr/bin/env bash
# The README command checker: shows that every shell command in README.md runs as
# written, on a fresh machine, against a fresh Berth server. Exit 0 only when every
# block that is not skipped succeeded; 1 when one failed; 2 when the check itself could
# not run (a bad marker, port 5443 busy, no built `berth`).
#
#   scripts/readme-check.sh          # run (a few seconds with a debug build)
#   scripts/readme-check.sh --list   # list the blocks, their markers and the clients they need
#   scripts/readme-check.sh --keep   # keep the temporary directory (logs, data) afterwards
#   scripts/readme-check.sh --readme FILE   # check another copy of the README
#
# What it does (the engine is scripts/readme_check.py, python3 standard library only):
#
# - Takes README.md's fenced ```bash blocks in order (```toml, ```text and other blocks
#   are not run) and runs each one in a new `bash --noprofile --norc` with
#   `set -euo pipefail`, in one fresh temporary working directory, with a fresh HOME
#   (so ~/.docker is new) and without any BERTH_*, DOCKER_CONFIG, DOCKER_CONTENT_TRUST*
#   or XDG_* variable from the caller. DOCKER_HOST and the rest of the environment pass
#   through. Variables (exported or not), functions and the directory a block leaves are
#   carried to the next block, as in one terminal. Standard input is /dev/null and there
#   is no terminal, so a command that would wait for the keyboard fails instead of
#   hanging. Each block has at most 60 s, all blocks together 170 s; the block's
#   processes are killed when it runs out.
# - A block that fails is printed with its output and the failing command (and its
#   README line); the check goes on with the next blocks and exits 1 at the end.
#
# What it changes, and why (nothing else in a block is changed):
#
# - THE ONE SUBSTITUTION: `cargo install … --path crates/berth` (the first block's
#   `cargo install --locked --path crates/berth`) is replaced by a symlink `berth` ->
#   the already-built binary, in a directory put first on PATH (as ~/.cargo/bin is).
#   CI has just built the same code, and a release build would add ~10 minutes. The
#   binary is $BERTH_BIN, else the `berth` on PATH, else
#   ${CARGO_TARGET_DIR:-target}/{debug,release}/berth. Any other `cargo install` in a
#   block stops the check (exit 2).
# - A `berth serve` that runs in the foreground in the README (not ended by `&`) runs in
#   the background instead: the checker waits until it prints "is serving" (at most
#   45 s), shows its standard output, and when it printed a generated admin password,
#   exports it as BERTH_ADMIN_PASSWORD, which the README's later blocks use (the README:
#   the first start prints the password; BERTH_ADMIN_PASSWORD holds it). Without an
#   `--https-listen`, the checker adds `--https-listen 127.0.0.1:5443`, the README's own
#   way to keep the server to this machine: no server it starts listens beyond loopback.
# - Port 5443 must be free (the README's server listens on localhost:5443); when it is
#   not, the check stops at once with exit 2, naming what holds it.
#
# Markers: an HTML comment on the line(s) immediately before a fenced block, invisible
# on GitHub. `skip:` stands alone; the others combine with `;`.
#
#   <!-- readme-check: skip: REASON -->  not run; printed with its reason. Only for what
#        CI cannot do: a second machine or a real host name, a real LDAP directory,
#        S3 credentials, an interactive program, a command that runs forever.
#   image: NAME        the README assumes the reader has this docker image; when the
#                      daemon lacks it, a one-file stand-in is made with `docker import`.
#   file: NAME.pub     the README assumes the reader has this public key (cosign.pub, a
#                      notation signer's key); a sample ECDSA P-256 public key is written.
#   password-prompts: VAR  the block asks for a password (`docker login -u admin`,
#                      `curl -u admin`): it runs with a terminal on standard input and the
#                      checker types $VAR (as set by the earlier blocks) at each prompt.
#   stop-servers       the block starts its own servers on the README's ports: the
#                      servers and background jobs of the earlier blocks are stopped
#                      first (the reader stops the foreground `berth serve` first).
#   temp-path: PATH    the block writes PATH outside the working directory (e.g.
#                      /tmp/berth-blobs); removed at the end if it did not exist before.
#   timeout: SECONDS   another time limit for the block.
#
# Clients: a block that runs docker, podman, skopeo or notary needs it. When `docker info`
# fails (or the client is not installed), the block is skipped with that reason, unless
# BERTH_REQUIRE_CLIENTS=1 (as scripts/test.sh sets for the tests): then it fails. Run
# it where scripts/test.sh has installed the clients and started its private dockerd.
#
# Cleanup: every server and background job the blocks started is stopped (SIGTERM to
# the process group of the block's shell, SIGKILL after 20 s), images the run added to
# the docker daemon are removed, and the temporary directory is deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v python3 >/dev/null 2>&1; then
    echo "readme-check: needs python3 (Debian's python3 package)" >&2
    exit 2
fi
exec python3 scripts/readme_check.py "$@"
