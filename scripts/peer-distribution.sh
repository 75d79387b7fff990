#!/usr/bin/env bash
# Starts CNCF Distribution (Debian's `docker-registry`) on a loopback port with its storage and
# config in a fresh temporary directory, for side-by-side benchmarks.
#
#   scripts/peer-distribution.sh PORT [USER PASSWORD]
#
# With USER and PASSWORD it uses htpasswd auth (bcrypt, cost 5 as `htpasswd -B` makes it).
# Prints `pid=<pid> dir=<dir> url=http://127.0.0.1:PORT` once it answers; stop it with `kill <pid>`
# and remove the directory. With PEER_NOTIFY_URL set, it notifies PEER_NOTIFY_COUNT (default 1)
# endpoints there of every event (its `notifications.endpoints`), for the webhooks benchmark.
# With PEER_TLS_CERT and PEER_TLS_KEY set (PEM files), it serves HTTPS with them (Go's TLS,
# HTTP/2 offered by ALPN as Go's server does by default) and prints an https:// url.
# With PEER_PROXY_URL set, it is a pull-through cache of the registry there (its `proxy.remoteurl`).
set -euo pipefail
port=${1:?usage: peer-distribution.sh PORT [USER PASSWORD]}
user=${2:-}
password=${3:-}
command -v docker-registry >/dev/null || { echo "peer-distribution.sh: apt-get install docker-registry" >&2; exit 1; }

dir=$(mktemp -d /tmp/distribution.XXXXXX)
auth=""
if [ -n "$user" ]; then
    # bcrypt through libxcrypt's crypt(3); the salt is 22 characters of bcrypt's alphabet.
    salt=$(head -c 64 /dev/urandom | base64 | tr -dc './A-Za-z0-9' | head -c 22)
    hash=$(PW="$password" SALT="$salt" perl -e 'print crypt($ENV{PW}, "\$2y\$05\$" . $ENV{SALT})')
    case "$hash" in \$2y\$05\$*) ;; *) echo "peer-distribution.sh: crypt(3) has no bcrypt" >&2; exit 1 ;; esac
    echo "$user:$hash" >"$dir/htpasswd"
    auth="auth:
  htpasswd:
    realm: distribution
    path: $dir/htpasswd"
fi
notifications=""
if [ -n "${PEER_NOTIFY_URL:-}" ]; then
    notifications="notifications:
  endpoints:"
    for n in $(seq "${PEER_NOTIFY_COUNT:-1}"); do
        notifications+="
    - name: hook$n
      url: $PEER_NOTIFY_URL
      timeout: 3s
      threshold: 5
      backoff: 1s"
    done
fi
tls=""
scheme=http
if [ -n "${PEER_TLS_CERT:-}" ]; then
    tls="  tls:
    certificate: $PEER_TLS_CERT
    key: ${PEER_TLS_KEY:?PEER_TLS_KEY goes with PEER_TLS_CERT}"
    scheme=https
fi
proxy=""
if [ -n "${PEER_PROXY_URL:-}" ]; then
    proxy="proxy:
  remoteurl: $PEER_PROXY_URL"
fi
cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$tls
$auth
$notifications
$proxy
YAML
docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    code=$(curl -sk -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/v2/" || true)
    case "$code" in 200|401) echo "pid=$pid dir=$dir url=$scheme://127.0.0.1:$port"; exit 0 ;; esac
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
echo "peer-distribution.sh: docker-registry did not answer; its log:" >&2
cat "$dir/log" >&2
kill "$pid" 2>/dev/null || true
exit 1
