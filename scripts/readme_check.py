#!/usr/bin/env python3
"""The README command checker's engine; run it through scripts/readme-check.sh, whose
header describes what it does, its markers and its one substitution.

Standard library only (python3 from Debian), Linux only (/proc, ptys).
"""

import argparse
import fcntl
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time

PORT = 5443  # where the README's server listens (localhost:5443)
BLOCK_TIMEOUT = 60  # seconds, per block (a marker's `timeout: N` changes it)
TOTAL_BUDGET = 170  # seconds for all blocks together
SHELL_LANGS = {"bash", "sh", "shell"}
DIRECTIVES = {"skip", "image", "file", "password-prompts", "stop-servers", "temp-path", "timeout"}
CLIENTS = ("docker", "podman", "skopeo", "notary")

# The stand-in for a file the README assumes the reader already has (`file: NAME.pub`):
# a public key as `cosign generate-key-pair` writes or `openssl x509 -pubkey` prints
# (ECDSA P-256, SubjectPublicKeyInfo PEM). Its private key was thrown away.
SAMPLE_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoVlF/nio1XI+WwqktWdlcgXJsiKg
nfF7pRoqBXUXhVrlv7S4CxyBlSguRfQsTRBcKC68vdEq2yRmDBLj23qFzA==
-----END PUBLIC KEY-----
"""

MARKER_RE = re.compile(r"^\s*<!--\s*readme-check:(.*?)-->\s*$")
FENCE_OPEN_RE = re.compile(r"^ {0,3}```\s*([A-Za-z0-9_+-]*)\s*$")
FENCE_CLOSE_RE = re.compile(r"^ {0,3}```\s*$")
# `cargo install … --path crates/berth`: the one command the checker replaces.
CARGO_INSTALL_RE = re.compile(r"\bcargo install\b[^;&|\n]*?--path crates/berth(?=[\s;&|)]|$)")
# A client at a command position (line start, after ; & | ( $( or sudo).
CLIENT_RE = re.compile(r"(?:^|[;&|(]|\$\()\s*(?:sudo\s+)?(" + "|".join(CLIENTS) + r")\b", re.M)
SERVE_RE = re.compile(r"((?:^|&&|\|\||;|\()\s*)(berth serve\b)")
README_NAME = "README.md"
PROMPT_RE = re.compile(r"(?i)(password|passphrase)[^\n]*:\s*$")

# Bash's own variables, never carried from one block to the next.
BASH_SPECIALS = """_ BASH BASHOPTS BASHPID BASH_ALIASES BASH_ARGC BASH_ARGV BASH_ARGV0 BASH_CMDS BASH_COMMAND
BASH_EXECUTION_STRING BASH_LINENO BASH_LOADABLES_PATH BASH_REMATCH BASH_SOURCE BASH_SUBSHELL BASH_VERSINFO
BASH_VERSION COLUMNS COMP_WORDBREAKS DIRSTACK EPOCHREALTIME EPOCHSECONDS EUID FUNCNAME GROUPS HISTCMD HISTFILE
HISTFILESIZE HISTSIZE HOSTNAME HOSTTYPE IFS LINENO LINES MACHTYPE MAILCHECK OLDPWD OPTARG OPTERR OPTIND OSTYPE
PIPESTATUS PPID PS1 PS2 PS4 PWD RANDOM SECONDS SHELLOPTS SHLVL SRANDOM UID""".split()

PREAMBLE = r"""# readme-check: the previous blocks' variables, functions and directory, then this block
if [ -f "$READMECHECK_STATE" ]; then source "$READMECHECK_STATE"; fi
readme_check_install_berth() {
    ln -sfn "$READMECHECK_BERTH_BIN" "$READMECHECK_BIN_DIR/berth"
    echo "readme-check: instead of \`cargo install --locked --path crates/berth\`: the already-built $READMECHECK_BERTH_BIN is now \`berth\` on PATH ($READMECHECK_BIN_DIR)"
}
readme_check_serve() {
    local __rc_args=("$@") __rc_n __rc_out __rc_pid __rc_i __rc_pw
    case " $* " in
        *" --https-listen "* | *" --https-listen="*) ;;
        *) __rc_args+=(--https-listen "127.0.0.1:$READMECHECK_PORT") ;;
    esac
    __rc_n=$(( $(wc -l < "$READMECHECK_DIR/servers") + 1 ))
    __rc_out="$READMECHECK_DIR/server-$__rc_n"
    echo "readme-check: \`$*\` runs in the foreground in the README; starting \`${__rc_args[*]}\` in the background"
    "${__rc_args[@]}" >"$__rc_out.out" 2>"$__rc_out.err" </dev/null &
    __rc_pid=$!
    echo "$__rc_pid" >>"$READMECHECK_DIR/servers"
    for ((__rc_i = 0; __rc_i < 450; __rc_i++)); do
        if grep -q ' is serving' "$__rc_out.out" 2>/dev/null; then break; fi
        if ! kill -0 "$__rc_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    sed 's/^/    berth serve: /' "$__rc_out.out"
    if ! grep -q ' is serving' "$__rc_out.out"; then
        echo "readme-check: the server (pid $__rc_pid) did not report serving; its standard error ends with:"
        tail -n 15 "$__rc_out.err" | sed 's/^/    berth serve: /'
        return 1
    fi
    __rc_pw=$(sed -n 's/.*created the administrator account: user "admin", password "\([^"]*\)".*/\1/p' "$__rc_out.out")
    if [ -n "$__rc_pw" ]; then
        export BERTH_ADMIN_PASSWORD="$__rc_pw"
        printf '%s\n' "$__rc_pw" >>"$READMECHECK_DIR/secrets"
        echo "readme-check: BERTH_ADMIN_PASSWORD is now the generated admin password printed above (the later blocks use it)"
    fi
}
__rc_dump() {
    local __rc_v __rc_d __rc_f
    {
        for __rc_v in $(compgen -v); do
            case " $READMECHECK_BASH_SPECIALS " in *" $__rc_v "*) continue ;; esac
            case "$__rc_v" in __rc_* | READMECHECK_*) continue ;; esac
            __rc_d=$(declare -p "$__rc_v" 2>/dev/null) || continue
            __rc_f=${__rc_d#declare -}
            __rc_f=${__rc_f%% *}
            case "$__rc_f" in *r*) continue ;; esac
            printf '%s\n' "$__rc_d"
        done
        declare -f
        printf 'cd -- %q\n' "$PWD"
    } >"$READMECHECK_STATE.new" && mv -f "$READMECHECK_STATE.new" "$READMECHECK_STATE"
    env -0 >"$READMECHECK_DIR/env"
}
trap '__rc_rc=$?; __rc_dump; exit $__rc_rc' EXIT
# The failing command and its line in the block (the block's line that called the function it failed in)
trap '__rc_e=$?; if [ "$BASHPID" = "$$" ]; then if [ -n "${FUNCNAME[0]:-}" ]; then __rc_l=${BASH_LINENO[${#FUNCNAME[@]}-2]}; else __rc_l=$LINENO; fi; printf "%s\t%s\t%s\t%s\n" "$__rc_e" "$__rc_l" "${FUNCNAME[0]:-}" "$BASH_COMMAND" >>"$READMECHECK_DIR/failed"; fi' ERR
set -Eeuo pipefail
"""


class CheckerError(Exception):
    """A problem of the checker's input or set-up (exit 2), not of a README block."""


class Block:
    def __init__(self, index, line, lang, lines, directives):
        self.index = index  # 1-based among the shell blocks
        self.line = line  # README line of the opening fence
        self.lang = lang
        self.lines = lines
        self.directives = directives


def parse_marker(text, where):
    text = text.strip()
    if text.startswith("skip:"):
        reason = text[len("skip:"):].strip()
        if not reason:
            raise CheckerError(f"{where}: `skip:` needs a reason")
        return {"skip": reason}
    directives = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, _, value = part.partition(":")
        key, value = key.strip(), value.strip()
        if key not in DIRECTIVES or key == "skip":
            raise CheckerError(f"{where}: unknown readme-check directive `{key}` (known: {', '.join(sorted(DIRECTIVES))}; `skip:` must stand alone)")
        if key in ("image", "file", "temp-path"):
            directives.setdefault(key, []).extend(v for v in value.split() if v)
        else:
            directives[key] = value
    if "timeout" in directives and not directives["timeout"].isdigit():
        raise CheckerError(f"{where}: `timeout:` takes seconds")
    if "password-prompts" in directives and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", directives["password-prompts"]):
        raise CheckerError(f"{where}: `password-prompts:` takes the name of the variable holding the password")
    for name in directives.get("file", []):
        if not name.endswith(".pub") or "/" in name:
            raise CheckerError(f"{where}: `file:` can only stand in for a public key NAME.pub in the working directory")
    return directives


def parse_readme(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, pending, i = [], [], 0
    while i < len(lines):
        m = MARKER_RE.match(lines[i])
        if m:
            pending.append((i + 1, m.group(1)))
            i += 1
            continue
        m = FENCE_OPEN_RE.match(lines[i])
        if m:
            lang, start, body = m.group(1).lower(), i + 1, []
            i += 1
            while i < len(lines) and not FENCE_CLOSE_RE.match(lines[i]):
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise CheckerError(f"README.md:{start}: the fenced block never closes")
            directives = {}
            for line_no, text in pending:
                for key, value in parse_marker(text, f"README.md:{line_no}").items():
                    if isinstance(value, list):
                        directives.setdefault(key, []).extend(value)
                    else:
                        directives[key] = value
            if "skip" in directives and len(directives) > 1:
                raise CheckerError(f"README.md:{start}: a skipped block takes no other directive")
            if lang in SHELL_LANGS:
                blocks.append(Block(len(blocks) + 1, start, lang, body, directives))
            elif pending:
                raise CheckerError(f"README.md:{pending[0][0]}: readme-check marker before a ```{lang} block (only shell blocks run)")
            pending = []
            i += 1
            continue
        if pending and lines[i].strip():
            raise CheckerError(f"README.md:{pending[0][0]}: readme-check marker not immediately before a fenced block")
        i += 1
    if pending:
        raise CheckerError(f"README.md:{pending[0][0]}: readme-check marker at the end of the file")
    return blocks


def transform(block):
    """The block as the checker runs it: `cargo install … --path crates/berth` replaced, and a
    foreground `berth serve` started in the background (same line numbers)."""
    out = []
    for n, line in enumerate(block.lines):
        line = CARGO_INSTALL_RE.sub("readme_check_install_berth", line)
        if re.search(r"\bcargo install\b", line):
            raise CheckerError(f"README.md:{block.line + 1 + n}: a `cargo install` the checker does not know how to stand in for")
        # Is this logical line (with its continuations) run in the background?
        j = n
        while block.lines[j].rstrip().endswith("\\") and j + 1 < len(block.lines):
            j += 1
        tail = re.sub(r"\s#.*$", "", block.lines[j]).rstrip()
        if not tail.endswith("&") or tail.endswith("&&"):
            line = SERVE_RE.sub(lambda m: m.group(1) + "readme_check_serve " + m.group(2), line)
        out.append(line)
    return "\n".join(out) + "\n"


def needed_clients(block):
    code = "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in block.lines)
    return sorted(set(CLIENT_RE.findall(code)))


def port_busy(port):
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect((host, port))
                return f"something answers on {host}:{port}"
        except OSError:
            pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    except OSError as e:
        return f"127.0.0.1:{port} cannot be bound ({e.strerror})"
    return None


def live_in_group(pgid):
    """Pids of the live (not zombie) processes of a process group."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            pids.append(int(entry))
    return pids


def find_berth(repo):
    if os.environ.get("BERTH_BIN"):
        candidates = [os.environ["BERTH_BIN"]]
    else:
        candidates = []
        found = shutil.which("berth")
        if found:
            candidates.append(found)
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(repo, "target")
        built = [os.path.join(target, p, "berth") for p in ("debug", "release")]
        candidates += sorted((p for p in built if os.path.isfile(p)), key=os.path.getmtime, reverse=True)
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.realpath(c)
    raise CheckerError("no built `berth` binary: build it first (`cargo build -p berth`), put it on PATH, or set BERTH_BIN")


class Checker:
    def __init__(self, repo, blocks, berth_bin):
        self.repo, self.blocks, self.berth_bin = repo, blocks, berth_bin
        self.root = tempfile.mkdtemp(prefix="readme-check.")
        self.work = os.path.join(self.root, "work")
        self.home = os.path.join(self.root, "home")
        self.bin = os.path.join(self.root, "bin")
        self.dir = os.path.join(self.root, "check")
        for d in (self.work, self.home, self.bin, self.dir):
            os.mkdir(d)
        open(os.path.join(self.dir, "servers"), "w").close()
        self.state = os.path.join(self.dir, "state.sh")
        self.groups = []  # process groups (= pids of block shells) with processes left running
        self.secrets = set()
        self.docker_state = None
        self.images_made = []
        self.images_before = None
        self.temp_paths = []  # (path, existed before)
        self.env = self.base_env()
        self.deadline = time.monotonic() + TOTAL_BUDGET

    def base_env(self):
        env = {}
        for k, v in os.environ.items():
            # a fresh machine: no Berth or docker-client settings, no shell start-up files
            if k.startswith(("BERTH_", "DOCKER_CONTENT_TRUST", "NOTARY_", "XDG_")):
                continue
            if k in ("DOCKER_CONFIG", "BASH_ENV", "ENV", "CDPATH", "PROMPT_COMMAND", "OLDPWD"):
                continue
            env[k] = v
        env.update(
            HOME=self.home,
            PATH=self.bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            TERM="dumb",
            READMECHECK_STATE=self.state,
            READMECHECK_DIR=self.dir,
            READMECHECK_BIN_DIR=self.bin,
            READMECHECK_BERTH_BIN=self.berth_bin,
            READMECHECK_PORT=str(PORT),
            READMECHECK_BASH_SPECIALS=" ".join(BASH_SPECIALS),
        )
        return env

    # --- output -------------------------------------------------------------------------
    def mask(self, text):
        for s in self.secrets:
            text = text.replace(s, "<generated admin password>")
        return text

    def say(self, msg=""):
        print(self.mask(msg), flush=True)

    def show_block(self, block, title):
        self.say(f"\n=== block {block.index}/{len(self.blocks)}, {README_NAME} line {block.line}: {title}")
        for line in block.lines:
            self.say(f"  $ {line}")

    # --- clients ------------------------------------------------------------------------
    def docker_available(self):
        if self.docker_state is None:
            try:
                r = subprocess.run(["docker", "info"], env=self.env, stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, timeout=30)
                self.docker_state = (r.returncode == 0, (r.stderr or r.stdout).strip().splitlines()[-1:] or [""])
            except (OSError, subprocess.TimeoutExpired) as e:
                self.docker_state = (False, [str(e)])
            if self.docker_state[0]:
                self.images_before = set(self.docker_images())
        ok, why = self.docker_state
        return ok, why[0] if why else ""

    def docker_images(self):
        r = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], env=self.env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        return r.stdout.split()

    def missing_client(self, block):
        """None when the block's clients can run, else why not."""
        for client in needed_clients(block):
            if client == "docker":
                ok, why = self.docker_available()
                if not ok:
                    return f"docker is not available (`docker info` failed: {why})"
            elif not shutil.which(client, path=self.env["PATH"]):
                return f"`{client}` is not installed"
        return None

    def make_image(self, name):
        """The README assumes the reader has this image; make a one-file stand-in if missing."""
        r = subprocess.run(["docker", "image", "inspect", name], env=self.env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        if r.returncode == 0:
            self.say(f"readme-check: image {name} is present (the README assumes the reader has it)")
            return
        d = tempfile.mkdtemp(dir=self.dir)
        with open(os.path.join(d, "hello"), "w") as f:
            f.write("a stand-in image made by scripts/readme-check.sh\n")
        tar = os.path.join(self.dir, "rootfs.tar")
        subprocess.run(["tar", "-C", d, "-cf", tar, "hello"], check=True)
        r = subprocess.run(["docker", "import", tar, name], env=self.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise CheckerError(f"could not make the stand-in image {name}: {r.stderr.strip()}")
        self.images_made.append(name)
        self.say(f"readme-check: the README assumes an image {name}; made a one-file stand-in with `docker import`")

    # --- servers and processes ----------------------------------------------------------
    def stop_everything(self, why):
        groups = [g for g in self.groups if live_in_group(g)]
        if not groups:
            return
        self.say(f"readme-check: {why}: stopping the servers and background jobs the blocks started "
                 f"(process groups {', '.join(map(str, groups))})")
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            for g in groups:
                try:
                    os.killpg(g, sig)
                except ProcessLookupError:
                    pass
            end = time.monotonic() + wait
            while time.monotonic() < end and any(live_in_group(g) for g in groups):
                time.sleep(0.1)
            groups = [g for g in groups if live_in_group(g)]
            if not groups:
                break
        self.groups = []

    # --- one block ----------------------------------------------------------------------
    def run_shell(self, block, script, timeout, prompt_var):
        log_path = os.path.join(self.dir, f"block-{block.index}.log")
        failed_path = os.path.join(self.dir, "failed")
        if os.path.exists(failed_path):
            os.remove(failed_path)
        prompt_value = None
        if prompt_var:
            prompt_value = self.state_env().get(prompt_var)
            if not prompt_value:
                return None, f"`password-prompts: {prompt_var}` but {prompt_var} is not set by the earlier blocks", log_path, []
        notes = []
        with open(log_path, "wb") as log:
            argv = ["bash", "--noprofile", "--norc", script]
            if prompt_value is None:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.work,
                                     env=self.env, start_new_session=True)
                self.groups.append(p.pid)  # its own process group: stopped at the end with what it left
                try:
                    rc = p.wait(timeout)
                except subprocess.TimeoutExpired:
                    rc = None
            else:
                p, rc = self.run_with_prompts(argv, log, log_path, timeout, prompt_value, prompt_var, notes)
        if rc is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        return rc, None, log_path, notes

    def run_with_prompts(self, argv, log, log_path, timeout, value, var, notes):
        """Runs the block with a terminal on standard input (its controlling terminal), and
        types `value` at every password prompt, as the reader does."""
        master, slave = os.openpty()

        def child():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        p = subprocess.Popen(argv, stdin=slave, stdout=log, stderr=log, cwd=self.work, env=self.env,
                             preexec_fn=child)
        self.groups.append(p.pid)
        os.close(slave)
        end = time.monotonic() + timeout
        tty_text, tty_seen, log_seen = "", 0, 0
        reader = open(log_path, "rb")
        log_text = ""
        rc = None
        try:
            while True:
                rc = p.poll()
                if rc is not None:
                    break
                if time.monotonic() > end:
                    break
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    try:
                        tty_text += os.read(master, 4096).decode("utf-8", "replace")
                    except OSError:
                        pass
                log_text += reader.read().decode("utf-8", "replace")
                for text, seen in ((tty_text, tty_seen), (log_text, log_seen)):
                    if PROMPT_RE.search(text[seen:][-300:]):
                        time.sleep(0.2)  # let the program finish turning echo off
                        os.write(master, (value + "\n").encode())
                        notes.append(f"readme-check: typed ${var} at the prompt {text[seen:].splitlines()[-1].strip()!r}")
                        tty_seen, log_seen = len(tty_text), len(log_text)
                        break
        finally:
            reader.close()
            os.close(master)
        return p, rc

    def state_env(self):
        path = os.path.join(self.dir, "env")
        env = {}
        if os.path.exists(path):
            for item in open(path, "rb").read().split(b"\0"):
                k, sep, v = item.decode("utf-8", "replace").partition("=")
                if sep:
                    env[k] = v
        return env

    def failure_of(self, block, preamble_lines):
        path = os.path.join(self.dir, "failed")
        if not os.path.exists(path):
            return None
        entries = [l.split("\t", 3) for l in open(path).read().splitlines() if l.count("\t") >= 3]
        if not entries:
            return None
        rc, line, function, command = entries[-1]
        if function.startswith("readme_check_"):
            command = "(the checker's stand-in, see above)"
        n = int(line) - preamble_lines
        where = self.where(block, n) if 1 <= n <= len(block.lines) else ""
        return rc, where, command

    def where(self, block, n, short=False):
        """The README line of the block's line n (1-based)."""
        if not 1 <= n <= len(block.lines):
            return f"(the checker's preamble, line {n + PREAMBLE.count(chr(10))})"
        at = f"{README_NAME} line {block.line + n}"
        return at if short else f"{at}: {block.lines[n - 1].strip()}"

    def run(self):
        failures, ran, skipped = [], 0, 0
        preamble_lines = PREAMBLE.count("\n")
        for block in self.blocks:
            d = block.directives
            if "skip" in d:
                skipped += 1
                self.show_block(block, f"SKIPPED: {d['skip']}")
                continue
            why = self.missing_client(block)
            if why:
                if os.environ.get("BERTH_REQUIRE_CLIENTS") == "1":
                    self.show_block(block, "FAILED")
                    self.say(f"readme-check: {why}, and BERTH_REQUIRE_CLIENTS=1")
                    failures.append((block, why))
                    ran += 1
                else:
                    skipped += 1
                    self.show_block(block, f"SKIPPED: {why} (BERTH_REQUIRE_CLIENTS=1 makes this a failure)")
                continue
            left = self.deadline - time.monotonic()
            if left < 5:
                self.show_block(block, "FAILED")
                self.say(f"readme-check: the whole check ran out of its {TOTAL_BUDGET} s")
                failures.append((block, "out of time"))
                ran += 1
                continue
            timeout = min(int(d.get("timeout", BLOCK_TIMEOUT)), left)
            ran += 1
            self.show_block(block, "running")
            if "stop-servers" in d:
                self.stop_everything("before this block (marker `stop-servers`)")
            for path in d.get("temp-path", []):
                self.temp_paths.append((path, os.path.lexists(path)))
            for name in d.get("image", []):
                self.make_image(name)
            for name in d.get("file", []):
                target = os.path.join(self.work, name)
                if not os.path.exists(target):
                    with open(target, "w") as f:
                        f.write(SAMPLE_PUBLIC_KEY)
                    self.say(f"readme-check: the README assumes your {name}; wrote a sample ECDSA P-256 public key there")
            script = os.path.join(self.dir, f"block-{block.index}.sh")
            with open(script, "w") as f:
                f.write(PREAMBLE + transform(block))
            started = time.monotonic()
            rc, problem, log_path, notes = self.run_shell(block, script, timeout, d.get("password-prompts"))
            took = time.monotonic() - started
            secrets = os.path.join(self.dir, "secrets")
            if os.path.exists(secrets):
                self.secrets.update(filter(None, open(secrets).read().split("\n")))
            output = open(log_path, encoding="utf-8", errors="replace").read() if os.path.exists(log_path) else ""
            # bash's own messages name the script's line: name the README's instead
            output = re.sub(re.escape(script) + r": line (\d+):",
                            lambda m: self.where(block, int(m.group(1)) - preamble_lines, short=True) + ":", output)
            for line in output.replace("\r", "").splitlines():
                self.say(f"  | {line}")
            for note in notes:
                self.say(note)
            if problem:
                self.say(f"FAILED: {problem}")
                failures.append((block, problem))
            elif rc is None:
                self.say(f"FAILED: timed out after {timeout:.0f} s (the block's processes were killed)")
                failures.append((block, f"timed out after {timeout:.0f} s"))
            elif rc != 0:
                fail = self.failure_of(block, preamble_lines)
                self.say(f"FAILED with exit status {rc} after {took:.1f} s")
                what = f"exit status {rc}"
                if fail:
                    self.say(f"  failing command: {fail[2]}  (exit status {fail[0]})")
                    if fail[1]:
                        self.say(f"  at {fail[1]}")
                        what = f"{fail[1]} (exit status {fail[0]})"
                else:
                    last = [l for l in output.splitlines() if l.strip()][-1:] or ["(no output)"]
                    self.say(f"  bash stopped the block: {last[0].strip()}")
                    what = f"bash stopped the block: {last[0].strip()}"
                if failures:
                    self.say("  (an earlier block failed too; this failure may follow from it)")
                failures.append((block, what))
            else:
                self.say(f"ok ({took:.1f} s)")
        return ran, skipped, failures

    def cleanup(self, keep):
        self.stop_everything("at the end")
        if self.images_made or self.images_before is not None:
            try:
                # the stand-ins it made, and what the blocks tagged or pulled for the README's registry
                new = [i for i in self.docker_images() if i not in (self.images_before or set())
                       and i.startswith(f"localhost:{PORT}/")]
                made = self.images_made + new
                if made:
                    subprocess.run(["docker", "rmi", "-f", *sorted(set(made))], env=self.env,
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                    self.say(f"readme-check: removed the images this run made: {', '.join(sorted(set(made)))}")
            except (OSError, subprocess.TimeoutExpired):
                pass
        for path, existed in self.temp_paths:
            if not existed and os.path.lexists(path):
                shutil.rmtree(path, ignore_errors=True)
                self.say(f"readme-check: removed {path} (a README block made it)")
        if keep:
            self.say(f"readme-check: kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="Runs README.md's shell blocks against a fresh Berth server.")
    ap.add_argument("--readme", default=None, help="the README to check (default: README.md of the repository)")
    ap.add_argument("--list", action="store_true", help="only list the blocks, their markers and needs")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data) for a look")
    args = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    readme = args.readme or os.path.join(repo, "README.md")
    global README_NAME
    README_NAME = os.path.basename(readme)
    try:
        blocks = parse_readme(readme)
        for b in blocks:
            transform(b)  # refuses an unknown cargo install early
    except CheckerError as e:
        print(f"readme-check: {e}", file=sys.stderr)
        return 2
    if args.list:
        for b in blocks:
            needs = ", ".join(needed_clients(b)) or "-"
            d = b.directives
            what = f"skip: {d['skip']}" if "skip" in d else "; ".join(
                (f"{k}: {' '.join(v) if isinstance(v, list) else v}" if v else k) for k, v in d.items()) or "run"
            print(f"block {b.index:2} {README_NAME}:{b.line:<4} clients: {needs:<8} {what}")
        return 0

    started = time.monotonic()
    busy = port_busy(PORT)
    if busy:
        print(f"readme-check: port {PORT} is busy ({busy}); the README's server listens on localhost:{PORT}. "
              f"Stop whatever holds it and run the check again.", file=sys.stderr)
        if shutil.which("ss"):
            subprocess.run(["ss", "-ltnp", f"sport = :{PORT}"], stdout=sys.stderr)
        return 2
    try:
        berth_bin = find_berth(repo)
    except CheckerError as e:
        print(f"readme-check: {e}", file=sys.stderr)
        return 2
    checker = Checker(repo, blocks, berth_bin)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    print(f"readme-check: {len(blocks)} shell blocks in {os.path.relpath(readme)}; each runs with `set -euo pipefail`, "
          f"at most {BLOCK_TIMEOUT} s, in order, carrying variables and functions to the next")
    print(f"readme-check: working directory {checker.work} (fresh), HOME={checker.home} (fresh)")
    print(f"readme-check: `berth` is {berth_bin} (stands in for `cargo install --locked --path crates/berth`)")
    code = None
    try:
        ran, skipped, failures = checker.run()
    except KeyboardInterrupt:
        print("readme-check: interrupted; cleaning up", file=sys.stderr)
        code = 130
    except CheckerError as e:
        print(f"readme-check: {e}", file=sys.stderr)
        code = 2
    finally:
        checker.cleanup(args.keep)
    if code is not None:
        return code
    took = time.monotonic() - started
    print(f"\nreadme-check: {ran} blocks run, {skipped} skipped, {len(failures)} failed, in {took:.0f} s")
    for block, what in failures:
        print(f"readme-check: FAILED block {block.index} ({README_NAME} line {block.line}): {what}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
