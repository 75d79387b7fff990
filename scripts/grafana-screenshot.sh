#!/usr/bin/env bash
# Makes docs/grafana/dashboard.png, the README's picture of the Grafana dashboard
# docs/grafana/berth.json filled by a benchmark run: a fresh Berth (plain HTTP on loopback),
# Prometheus scraping it every 2 s, Grafana provisioned with that data source and the
# dashboard (anonymous viewers), berth-bench's push, pull, list and web UI scenarios for
# LOAD_SECONDS plus wrong passwords, access tokens, refresh tokens, refused trust updates,
# blob pulls and two garbage collections; then headless Chromium screenshots the dashboard
# in kiosk mode while the load still runs. Everything listens on 127.0.0.1 on free ports,
# in a temporary directory that is removed at the end. About 3–4 minutes (plus the build).
#
#   scripts/grafana-screenshot.sh
#   BERTH_BIN_DIR=/path/to/bin scripts/grafana-screenshot.sh    prebuilt berth and berth-bench (else a release build)
#
# Also: GRAFANA_VERSION (default below; its official tarball is cached in
# ~/.cache/berth-grafana), GRAFANA_HOME (an unpacked Grafana to use instead), PROMETHEUS (the
# prometheus binary; else the one on PATH, else Debian's package is installed), LOAD_SECONDS
# (default 150), OUT (default docs/grafana/dashboard.png).
#
# Before the screenshot, every panel's queries are run against Prometheus and the panels
# without data are listed. When Grafana cannot be had (the machine cannot reach
# dl.grafana.com), the script says so and renders a preview of the dashboard from the same
# queries instead (marked as such in the picture), so the dashboard and the metrics can
# still be checked.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
grafana_version=${GRAFANA_VERSION:-11.6.0}
load_seconds=${LOAD_SECONDS:-150}
out=${OUT:-docs/grafana/dashboard.png}
dashboard=docs/grafana/berth.json
cache=${XDG_CACHE_HOME:-$HOME/.cache}/berth-grafana
say() { echo "grafana-screenshot: $*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------- binaries
if [ -n "${BERTH_BIN_DIR:-}" ]; then
    bin=$BERTH_BIN_DIR
else
    cargo build -q --release -p berth -p berth-bench
    bin=target/release
fi
[ -x "$bin/berth" ] && [ -x "$bin/berth-bench" ] || die "no berth and berth-bench in $bin"

prometheus=${PROMETHEUS:-$(command -v prometheus || true)}
if [ -z "$prometheus" ]; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "needs prometheus: install it (apt-get install prometheus) or set PROMETHEUS"
    say "installing Prometheus (Debian's package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    prometheus=$(command -v prometheus)
fi

chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$chromium" ]; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "needs chromium"
    say "installing Chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    chromium=$(command -v chromium)
fi

# Grafana: GRAFANA_HOME, else the official tarball (checked against its published SHA-256),
# unpacked once under the cache.
grafana_home=${GRAFANA_HOME:-}
if [ -z "$grafana_home" ]; then
    tarball=grafana-$grafana_version.linux-amd64.tar.gz
    url=https://dl.grafana.com/oss/release/$tarball
    mkdir -p "$cache"
    grafana_home=$cache/grafana-v$grafana_version
    if [ ! -x "$grafana_home/bin/grafana" ]; then
        if [ ! -s "$cache/$tarball" ]; then
            say "downloading $url"
            if curl -fsSL --connect-timeout 20 --retry 2 -o "$cache/$tarball.part" "$url" \
                && curl -fsSL --connect-timeout 20 --retry 2 -o "$cache/$tarball.sha256" "$url.sha256"; then
                echo "$(cut -c1-64 "$cache/$tarball.sha256")  $cache/$tarball.part" | sha256sum -c --quiet - \
                    || die "$tarball: the SHA-256 does not match $url.sha256"
                mv "$cache/$tarball.part" "$cache/$tarball"
            else
                rm -f "$cache/$tarball.part"
                say "WARNING: cannot download Grafana ($url): no network access to it?"
            fi
        fi
        if [ -s "$cache/$tarball" ]; then
            rm -rf "$cache/unpack" && mkdir -p "$cache/unpack"
            tar -xzf "$cache/$tarball" -C "$cache/unpack"
            rm -rf "$grafana_home" && mv "$cache/unpack"/grafana* "$grafana_home" && rm -rf "$cache/unpack"
        fi
    fi
fi
if [ -x "$grafana_home/bin/grafana" ]; then
    grafana=$grafana_home/bin/grafana
else
    grafana=
    say "WARNING: no Grafana: rendering a PREVIEW of the dashboard from its queries instead of a Grafana screenshot"
fi

# ---------------------------------------------------------------- processes
work=$(mktemp -d /tmp/berth-grafana.XXXXXX)
pids=()
cleanup() { # the last started first: the load before the servers
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null || true
        wait "${pids[i]}" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # URL SECONDS WHAT LOG
    local i
    for i in $(seq $(($2 * 5))); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
    tail -20 "$4" >&2 || true
    die "$3 did not answer at $1 within $2 s"
}

cat >"$work/helper.py" <<'PY'
"""grafana-screenshot.sh's helper: the panels of docs/grafana/berth.json evaluated against
Prometheus, and the requests of the load that berth-bench does not make.

  helper.py check   PROMETHEUS_URL DASHBOARD FROM TO            lists each panel's series; exits 1 when one has no data
  helper.py preview PROMETHEUS_URL DASHBOARD FROM TO HTML_OUT   writes an HTML rendering of the dashboard
  helper.py traffic BERTH_URL ADMIN_PASSWORD ACCESS_TOKEN SECONDS  requests that berth-bench does not make

FROM and TO are Unix seconds. The queries are run as Grafana would run them with a 2 s
scrape interval: $instance matches every instance, $__rate_interval is 8 s.
"""
import datetime
import html
import json
import math
import re
import sys
import urllib.parse
import urllib.request

STEP = 2
RATE_INTERVAL = "8s"


def expand(expr):
    return expr.replace("$__rate_interval", RATE_INTERVAL).replace("$instance", ".+")


def query_range(prom, expr, start, end):
    data = urllib.parse.urlencode({"query": expand(expr), "start": start, "end": end, "step": STEP}).encode()
    with urllib.request.urlopen(urllib.request.Request(prom + "/api/v1/query_range", data=data), timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, metric):
    if fmt in ("", "__auto"):
        return ",".join(f"{k}={v}" for k, v in sorted(metric.items())) or "value"
    out = fmt
    for k, v in metric.items():
        out = out.replace("{{" + k + "}}", v)
    return out


def panel_series(prom, panel, start, end):
    """[(name, [(t, value or None)], expr)] for each series of each target, in target order."""
    series = []
    for t in panel.get("targets", []):
        for s in query_range(prom, t["expr"], start, end):
            points = [(float(ts), None if v in ("NaN", "+Inf", "-Inf") else float(v)) for ts, v in s["values"]]
            series.append((legend(t.get("legendFormat", ""), s["metric"]), points, t["expr"]))
    return series


def panels(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def check(prom, path, start, end):
    dashboard = json.load(open(path))
    empty = []
    for p in panels(dashboard):
        series = panel_series(prom, p, start, end)
        described = []
        for name, points, expr in series:
            values = [v for _, v in points if v is not None]
            peak = max(values) if values else None
            described.append(f"{name}: " + ("no values" if peak is None else f"max {peak:.4g}, last {values[-1]:.4g}"))
            if values and peak == 0 and "rate(" in expr:
                described[-1] += " (never moved)"
        if not any(v is not None for _, pts, _ in series for _, v in pts):
            empty.append(p["title"])
        print(f"  {p['title']}: " + ("; ".join(described) if described else "NO DATA"))
    if empty:
        print("panels without data: " + ", ".join(empty))
        return 1
    return 0


# ---------------------------------------------------------------- preview

PALETTE = ["#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9", "#705DA0", "#37872D", "#FADE2A",
           "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477", "#B7DBAB", "#F4D598", "#70DBED", "#F9BA8F"]
NAMED = {"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "blue": "#5794F2", "purple": "#B877D9",
         "yellow": "#FADE2A", "text": "#CCCCDC"}
UNIT_SUFFIX = {"reqps": " req/s", "ops": " ops/s"}


def si(value, base=1000.0, prefixes=("", " k", " M", " G", " T")):
    i = 0
    while abs(value) >= base and i < len(prefixes) - 1:
        value /= base
        i += 1
    return value, prefixes[i]


def number(value, decimals=None):
    if decimals is not None:
        return f"{value:.{decimals}f}"
    if value == 0:
        return "0"
    a = abs(value)
    if a >= 100:
        return f"{value:.0f}"
    if a >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    if a >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def fmt(value, unit, decimals=None):
    if value is None:
        return "–"
    if unit == "percentunit":
        return number(value * 100, decimals) + "%"
    if unit == "s":
        if value == 0:
            return "0 s"
        if abs(value) < 1e-3:
            return number(value * 1e6, decimals) + " µs"
        if abs(value) < 1:
            return number(value * 1e3, decimals) + " ms"
        return number(value, decimals) + " s"
    if unit == "bytes":
        v, p = si(value, 1024.0, (" B", " KiB", " MiB", " GiB", " TiB"))
        return number(v, decimals) + p
    if unit == "Bps":
        v, p = si(value, 1000.0, (" B/s", " kB/s", " MB/s", " GB/s", " TB/s"))
        return number(v, decimals) + p
    if unit == "dateTimeFromNow":
        ago = max(0, datetime.datetime.now().timestamp() - value / 1000)
        if ago < 60:
            return "a few seconds ago" if ago < 45 else "a minute ago"
        return "a minute ago" if ago < 90 else f"{round(ago / 60)} minutes ago"
    v, p = si(value)
    return number(v, decimals) + p.strip() + UNIT_SUFFIX.get(unit, "")


def nice_ticks(lo, hi, count=4, integer=False):
    if hi <= lo:
        hi = lo + 1
    raw = max((hi - lo) / count, 1 if integer else 0)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = [first]
    while ticks[-1] < hi - step * 1e-9:
        ticks.append(ticks[-1] + step)
    return ticks


def color_for(panel, name, index):
    for o in panel.get("fieldConfig", {}).get("overrides", []):
        m = o["matcher"]
        if m["id"] == "byRegexp" and re.fullmatch(m["options"], name):
            for prop in o["properties"]:
                if prop["id"] == "color":
                    return NAMED.get(prop["value"].get("fixedColor"), prop["value"].get("fixedColor"))
    return PALETTE[index % len(PALETTE)]


def render_timeseries(panel, series, start, end, w, h):
    d = panel["fieldConfig"]["defaults"]
    unit, decimals = d.get("unit", "short"), d.get("decimals")
    values = [v for _, pts, _ in series for _, v in pts if v is not None]
    if not values:
        return '<div class="nodata">No data</div>'
    stacked = d["custom"]["stacking"]["mode"] == "normal"
    lo = min(values + [0]) if d.get("min") == 0 else min(values)
    hi = max(values)
    if hi == lo:
        hi = lo + (abs(lo) if lo else 1)
    scale = 1024 ** int(math.log(hi, 1024)) if unit == "bytes" and hi >= 1024 else 1
    ticks = [t * scale for t in nice_ticks((lo if d.get("min") != 0 else 0) / scale, hi / scale, integer=decimals == 0)]
    lo, hi = ticks[0], ticks[-1]
    legend_h = 22 * math.ceil(len(series) / 3) if len(series) > 0 else 0
    left, right, top, bottom = 62, 8, 6, 20
    pw, ph = w - left - right, h - top - bottom - legend_h
    x = lambda t: left + (t - start) / (end - start) * pw
    y = lambda v: top + ph - (v - lo) / (hi - lo) * ph
    out = [f'<svg width="{w}" height="{h - legend_h}">']
    for t in ticks:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" class="axis" text-anchor="end">{html.escape(fmt(t, unit, decimals if decimals is not None else None))}</text>')
    span = end - start
    tick_step = next(s for s in (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if span / s <= 8)
    t = math.ceil(start / tick_step) * tick_step
    while t <= end:
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{top + ph}" class="grid"/>')
        label = datetime.datetime.fromtimestamp(t).strftime("%H:%M:%S" if tick_step < 60 else "%H:%M")
        out.append(f'<text x="{x(t):.1f}" y="{top + ph + 15}" class="axis" text-anchor="middle">{label}</text>')
        t += tick_step
    for i, (name, pts, _) in enumerate(series):
        color = color_for(panel, name, i)
        step = d["custom"].get("lineInterpolation") == "stepAfter"
        segments, current, prev = [], [], None
        for t, v in pts:
            if v is None:
                if current:
                    segments.append(current)
                current, prev = [], None
                continue
            if step and prev is not None:
                current.append((x(t), y(prev)))
            current.append((x(t), y(v)))
            prev = v
        if current:
            segments.append(current)
        fill = d["custom"].get("fillOpacity", 0) / 100
        for seg in segments:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in seg)
            if fill and not stacked:
                base = y(max(lo, 0))
                out.append(f'<polygon points="{seg[0][0]:.1f},{base:.1f} {path} {seg[-1][0]:.1f},{base:.1f}" fill="{color}" fill-opacity="{fill}"/>')
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.2"/>')
    out.append("</svg>")
    out.append('<div class="legend">' + "".join(
        f'<span><i style="background:{color_for(panel, name, i)}"></i>{html.escape(name)}</span>' for i, (name, _, _) in enumerate(series)) + "</div>")
    return "".join(out)


def mapped(panel, value):
    for m in panel["fieldConfig"]["defaults"].get("mappings", []):
        if m["type"] == "value" and value is not None:
            hit = m["options"].get(str(int(value)) if float(value).is_integer() else str(value))
            if hit:
                return hit.get("text"), NAMED.get(hit.get("color"), hit.get("color"))
    return None


def threshold_color(defaults, value):
    steps = defaults.get("thresholds", {}).get("steps", [])
    color = steps[0]["color"] if steps else "green"
    for s in steps[1:]:
        if value is not None and value >= s["value"]:
            color = s["color"]
    return NAMED.get(color, color)


def render_stat(panel, series, w, h):
    d = panel["fieldConfig"]["defaults"]
    opts = panel["options"]
    items = []
    for name, pts, _ in series:
        values = [v for _, v in pts if v is not None]
        items.append((name, values[-1] if values else None, values))
    if not items:
        return f'<div class="stat" style="color:#CCCCDC">{html.escape(d.get("noValue", "No data"))}</div>'
    cells = []
    for name, value, values in items:
        text = fmt(value, d.get("unit", "short"), d.get("decimals"))
        mapping = mapped(panel, value)
        if d["color"]["mode"] == "fixed":
            color = NAMED.get(d["color"]["fixedColor"], d["color"]["fixedColor"])
        else:
            color = threshold_color(d, value)
        if mapping:
            text, color = mapping[0], mapping[1] or color
        background = opts.get("colorMode") == "background"
        style = f"background:{color};color:#fff" if background else f"color:{color}"
        spark = ""
        if opts.get("graphMode") == "area" and len(values) > 1:
            lo, hi = min(values), max(values)
            hi = hi if hi > lo else lo + 1
            sw, sh = w / len(items), h * 0.35
            pts = " ".join(f"{i / (len(values) - 1) * sw:.1f},{sh - (v - lo) / (hi - lo) * sh:.1f}" for i, v in enumerate(values))
            spark = (f'<svg class="spark" width="{sw:.0f}" height="{sh:.0f}"><polygon points="0,{sh:.0f} {pts} {sw:.0f},{sh:.0f}" '
                     f'fill="{color}" fill-opacity="0.2"/><polyline points="{pts}" fill="none" stroke="{color}"/></svg>')
        label = ""
        if opts.get("textMode") == "name":
            text, label = name, ""
        elif opts.get("textMode") == "value_and_name":
            label = f'<div class="statname">{html.escape(name)}</div>'
        size = min(h * 0.32, (w / len(items)) / max(4, len(text)) * 1.6)
        cells.append(f'<div class="statcell" style="{style}">{label}<div class="statvalue" style="font-size:{size:.0f}px">{html.escape(text)}</div>{spark}</div>')
    return f'<div class="stat">{"".join(cells)}</div>'


def preview(prom, path, start, end, out):
    dashboard = json.load(open(path))
    width, unit_h, margin = 1600, 30, 8
    col = (width - 2 * margin) / 24
    body = []
    for p in dashboard["panels"]:
        g = p["gridPos"]
        left = margin + g["x"] * col
        top = 56 + g["y"] * (unit_h + margin)
        w = g["w"] * col - margin
        h = g["h"] * (unit_h + margin) - margin
        if p["type"] == "row":
            body.append(f'<div class="row" style="left:{left:.0f}px;top:{top:.0f}px;width:{w:.0f}px">{html.escape(p["title"])}</div>')
            continue
        series = panel_series(prom, p, start, end)
        inner_h = h - 36
        content = render_timeseries(p, series, start, end, w - 16, inner_h) if p["type"] == "timeseries" else render_stat(p, series, w - 16, inner_h)
        body.append(f'<div class="panel" style="left:{left:.0f}px;top:{top:.0f}px;width:{w:.0f}px;height:{h:.0f}px">'
                    f'<div class="title">{html.escape(p["title"])}</div><div class="content" style="height:{inner_h:.0f}px">{content}</div></div>')
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    height = 56 + bottom * (unit_h + margin) + 40
    when = f'{datetime.datetime.fromtimestamp(start):%Y-%m-%d %H:%M:%S} to {datetime.datetime.fromtimestamp(end):%H:%M:%S}'
    page = f"""<!doctype html><meta charset="utf-8"><style>
body {{ margin:0; background:#111217; color:#CCCCDC; font-family:Inter,'Helvetica Neue',Arial,'DejaVu Sans',sans-serif; font-size:12px; width:{width}px; height:{height}px; position:relative; }}
.header {{ position:absolute; left:{margin}px; top:12px; font-size:18px; color:#D8D9DA; }}
.header small {{ font-size:12px; color:#8E8E8E; margin-left:12px; }}
.panel {{ position:absolute; background:#181B1F; border:1px solid #2C3235; border-radius:2px; box-sizing:border-box; overflow:hidden; }}
.title {{ height:28px; line-height:28px; padding:0 8px; font-weight:500; font-size:13px; color:#CCCCDC; white-space:nowrap; overflow:hidden; }}
.content {{ padding:0 8px; position:relative; }}
.row {{ position:absolute; height:30px; line-height:30px; font-size:15px; font-weight:500; color:#D8D9DA; }}
.grid {{ stroke:#2C3235; stroke-width:1; }}
.axis {{ fill:#8E8E8E; font-size:10.5px; }}
.legend {{ display:flex; flex-wrap:wrap; gap:2px 14px; padding-top:2px; }}
.legend span {{ white-space:nowrap; color:#CCCCDC; font-size:11.5px; }}
.legend i {{ display:inline-block; width:14px; height:4px; border-radius:2px; margin-right:5px; vertical-align:middle; }}
.nodata {{ display:flex; height:100%; align-items:center; justify-content:center; color:#8E8E8E; font-size:14px; }}
.stat {{ display:flex; height:100%; gap:6px; }}
.statcell {{ flex:1; position:relative; display:flex; flex-direction:column; justify-content:center; align-items:center; border-radius:2px; overflow:hidden; }}
.statvalue {{ font-weight:500; z-index:1; white-space:nowrap; }}
.statname {{ font-size:13px; color:#CCCCDC; z-index:1; }}
.spark {{ position:absolute; bottom:0; left:0; }}
</style><body>
<div class="header">{html.escape(dashboard["title"])}<small>{html.escape(when)} &middot; preview of docs/grafana/berth.json rendered by scripts/grafana-screenshot.sh without Grafana</small></div>
{"".join(body)}
</body>"""
    open(out, "w").write(page)
    print(height)


# ---------------------------------------------------------------- traffic

def traffic(berth, password, token, seconds):
    """What berth-bench does not do, a little at a time for `seconds`: wrong passwords (two
    unknown accounts, ten failures each, then `limited`: the source's own limit of 50 is never
    reached), access-token sign-ins and a wrong token, new access tokens, refresh tokens,
    refused trust updates (malformed), and blob pulls of the small images the benchmark pushed."""
    import base64
    import time
    import urllib.error

    host = urllib.parse.urlsplit(berth).netloc
    wrong_token = token[:-1] + ("0" if token[-1] != "0" else "1")

    def call(method, path, user=None, secret=None, data=None, headers=None):
        request = urllib.request.Request(berth + path, data=data, method=method, headers=headers or {})
        if user is not None:
            request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            return 0, b""

    layers, deadline, tick = [], time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        tick += 1
        if tick % 3 == 0:
            call("GET", "/v2/", ("mallory", "eve")[tick % 2], "not-the-password")
        call("GET", "/v2/", "admin", token)
        if tick % 4 == 0:
            call("GET", "/v2/", "admin", wrong_token)
        if tick % 5 == 0:
            form = urllib.parse.urlencode({"grant_type": "password", "username": "admin", "password": password,
                                           "service": "berth", "client_id": "grafana-screenshot", "access_type": "offline"})
            call("POST", "/auth/token", data=form.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
        if tick % 2 == 0:
            call("POST", f"/v2/{host}/bench/small/_trust/tuf/", "admin", token, data=b"{}", headers={"Content-Type": "application/json"})
        if tick % 10 == 0:
            body = json.dumps({"name": f"grafana-screenshot-{tick}", "expiresAt": int(time.time()) + 3600}).encode()
            call("POST", "/api/v0/accounts/admin/tokens", "admin", password, data=body, headers={"Content-Type": "application/json"})
        if not layers and tick % 5 == 1:
            status, body = call("GET", "/v2/bench/small/tags/list?n=20", "admin", token)
            for tag in (json.loads(body).get("tags") or [])[:20] if status == 200 else []:
                status, body = call("GET", f"/v2/bench/small/manifests/{tag}", "admin", token,
                                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
                if status == 200:
                    layers += [layer["digest"] for layer in json.loads(body).get("layers", [])]
        for digest in layers[(tick * 8) % max(1, len(layers)):][:8]:
            call("GET", f"/v2/bench/small/blobs/{digest}", "admin", token)
        time.sleep(1)


if __name__ == "__main__":
    if sys.argv[1] == "traffic":
        traffic(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
        sys.exit(0)
    cmd, prom, path, start, end = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
    if cmd == "check":
        sys.exit(check(prom, path, start, end))
    preview(prom, path, start, end, sys.argv[6])
PY
helper() { python3 "$work/helper.py" "$@"; }

# Berth, with the organization `bench` that berth-bench's repositories live in.
export BENCH_PASSWORD
BENCH_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
berth_port=$(free_port)
berth=http://127.0.0.1:$berth_port
BERTH_ADMIN_PASSWORD=$BENCH_PASSWORD BERTH_LOG=warn "$bin/berth" serve --data-dir "$work/berth" \
    --https-listen "127.0.0.1:$(free_port)" --http-listen "127.0.0.1:$berth_port" >"$work/berth.out" 2>"$work/berth.log" &
pids+=($!)
wait_for "$berth/_ping" 60 Berth "$work/berth.log"
curl -sf -u "admin:$BENCH_PASSWORD" -X POST -H 'Content-Type: application/json' \
    -d '{"name":"bench","isOrg":true}' "$berth/api/v0/accounts" >/dev/null
token=$(BERTH_PASSWORD=$BENCH_PASSWORD "$bin/berth" token create --server "$berth" admin grafana-screenshot --expires-in 1d 2>/dev/null | head -1)
[[ $token == berth_* ]] || die "could not create an access token: $token"
say "Berth at $berth"

# Prometheus, scraping Berth every 2 s.
prometheus_port=$(free_port)
prometheus_url=http://127.0.0.1:$prometheus_port
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: berth
    static_configs:
      - targets: ['127.0.0.1:$berth_port']
YAML
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
wait_for "$prometheus_url/-/ready" 60 Prometheus "$work/prometheus.log"
say "Prometheus at $prometheus_url"

# Grafana, provisioned with Prometheus and the dashboard; anonymous visitors are viewers.
if [ -n "$grafana" ]; then
    grafana_port=$(free_port)
    grafana_url=http://127.0.0.1:$grafana_port
    g=$work/grafana
    mkdir -p "$g/data" "$g/logs" "$g/plugins" "$g/dashboards" "$g/provisioning/"{datasources,dashboards,plugins,alerting}
    cp "$dashboard" "$g/dashboards/berth.json"
    cat >"$g/provisioning/datasources/prometheus.yaml" <<YAML
apiVersion: 1
datasources:
  - name: Prometheus
    uid: prometheus
    type: prometheus
    access: proxy
    url: $prometheus_url
    isDefault: true
    editable: false
    jsonData:
      timeInterval: 2s
YAML
    cat >"$g/provisioning/dashboards/berth.yaml" <<YAML
apiVersion: 1
providers:
  - name: berth
    orgId: 1
    type: file
    disableDeletion: true
    allowUiUpdates: false
    options:
      path: $g/dashboards
YAML
    GF_PATHS_DATA=$g/data GF_PATHS_LOGS=$g/logs GF_PATHS_PLUGINS=$g/plugins GF_PATHS_PROVISIONING=$g/provisioning \
        GF_SERVER_HTTP_ADDR=127.0.0.1 GF_SERVER_HTTP_PORT=$grafana_port \
        GF_SECURITY_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))') \
        GF_AUTH_ANONYMOUS_ENABLED=true GF_AUTH_ANONYMOUS_ORG_ROLE=Viewer \
        GF_USERS_DEFAULT_THEME=dark GF_LIVE_MAX_CONNECTIONS=0 GF_PLUGINS_PREINSTALL_DISABLED=true \
        GF_ANALYTICS_REPORTING_ENABLED=false GF_ANALYTICS_CHECK_FOR_UPDATES=false \
        GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES=false GF_NEWS_NEWS_FEED_ENABLED=false GF_LOG_LEVEL=warn \
        "$grafana" server --homepath "$grafana_home" >"$g/grafana.log" 2>&1 &
    pids+=($!)
    wait_for "$grafana_url/api/health" 120 Grafana "$g/grafana.log"
    wait_for "$grafana_url/api/dashboards/uid/berth" 30 "Grafana's dashboard" "$g/grafana.log"
    say "Grafana ($grafana_home) at $grafana_url/d/berth"
fi

# ---------------------------------------------------------------- load
common=(--url "$berth" --user admin --concurrency 4 --tags-page 100 --catalog-page 20)
round() { # N: the registry scenarios, then the web UI ones, on more tags and repositories each time
    local sized=(--seed "$1" --tags $(($1 * 600)) --repos $(($1 * 80)) --max-seconds 150)
    "$bin/berth-bench" "${common[@]}" "${sized[@]}" --images 100 --blob-mib 48 --chunk-mib 8 --duration 8 --connections 8 \
        --scenario small_push,blob_push_large,blob_push_chunked,blob_pull_large,manifest_get,tags_list,catalog,mixed \
        >>"$work/bench.log" 2>&1 || say "berth-bench's registry scenarios failed: $(tail -1 "$work/bench.log")"
    "$bin/berth-bench" "${common[@]}" "${sized[@]}" --scenario ui --duration 3 --ui-clients 2 \
        >>"$work/bench.log" 2>&1 || say "berth-bench's web UI scenarios failed: $(tail -1 "$work/bench.log")"
}
gc() { BERTH_PASSWORD=$BENCH_PASSWORD "$bin/berth" gc --server "$berth" --grace-seconds 0 >>"$work/gc.log" 2>&1 || say "berth gc failed"; }

load_start=$(date +%s)
load_end=$((SECONDS + load_seconds))
say "load for $load_seconds s, then the screenshot"
python3 "$work/helper.py" traffic "$berth" "$BENCH_PASSWORD" "$token" $((load_seconds + 150)) &
traffic_pid=$!
pids+=($traffic_pid)
# Rounds (about 40 s each) until 50 s are left; a garbage collection after the first (the
# large blobs are in no manifest, so it frees them) and another before the last phase: the
# mixed workload, still running when the screenshot is taken.
rounds=0
while [ $((SECONDS + 50)) -lt "$load_end" ]; do
    rounds=$((rounds + 1))
    say "round $rounds: pushes, pulls, listings, mixed, web UI"
    round "$rounds"
    [ "$rounds" != 1 ] || gc
done
gc
final_seconds=$((load_end - SECONDS + 120))
"$bin/berth-bench" "${common[@]}" --seed 1000 --scenario mixed --duration "$final_seconds" --max-seconds $((final_seconds + 60)) \
    >>"$work/bench.log" 2>&1 &
final_pid=$!
pids+=($final_pid)
sleep $((load_end > SECONDS ? load_end - SECONDS : 0))
sleep 20 # the inventory is read at most every 30 s

# ---------------------------------------------------------------- check and screenshot
now=$(date +%s)
say "the panels' queries over the run:"
helper check "$prometheus_url" "$dashboard" "$load_start" "$now" >&2 || say "WARNING: some panels have no data"

mkdir -p "$(dirname "$out")"
shot=$work/dashboard.png
rows=$(python3 -c 'import json,sys; print(max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in json.load(open(sys.argv[1]))["panels"]))' "$dashboard")
chrome() { # WIDTH HEIGHT URL [FLAGS...]
    local width=$1 height=$2 url=$3
    shift 3
    timeout 180 "$chromium" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$work/chromium" --force-device-scale-factor=1 --window-size="$width,$height" \
        --screenshot="$shot" "$@" "$url" >>"$work/chromium.log" 2>&1
}
if [ -n "$grafana" ]; then
    # Kiosk mode from the start of the load to now; a grid row is 30 px and 8 px apart.
    url="$grafana_url/d/berth/berth?orgId=1&kiosk&theme=dark&from=$((load_start - 10))000&to=now"
    say "screenshot of $url"
    chrome 1600 $((rows * 38 + 60)) "$url" --virtual-time-budget=30000 --run-all-compositor-stages-before-draw
else
    height=$(helper preview "$prometheus_url" "$dashboard" $((load_start - 10)) "$now" "$work/preview.html")
    chrome 1600 "$height" "file://$work/preview.html"
fi
[ -s "$shot" ] || { tail -20 "$work/chromium.log" >&2; die "Chromium made no screenshot"; }
mv "$shot" "$out"

size=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]))' "$out")
what="Grafana screenshot"
[ -n "$grafana" ] || what="PREVIEW (no Grafana)"
say "wrote $out ($what, $size px, $(du -k "$out" | cut -f1) KiB) in $((SECONDS - started)) s: $rounds rounds of berth-bench, $(grep -c '^deleted' "$work/gc.log" || true) garbage collections"
