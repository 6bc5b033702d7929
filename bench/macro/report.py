#!/usr/bin/env python3
"""Turns the raw results of bench/macro/run.sh into markdown tables.

    report.py WORK_DIR

WORK_DIR/runs.tsv has one line per measured wrk run:
    section target conns round wrk_output_file proxy_cpu_s upstream_cpu_s proxy_rss_kb
    upstream_connections_opened proxy_runqueue_wait_s wall_s
WORK_DIR/idle.tsv has one line per idle-connection test:
    target n rss_before_kb rss_after_kb still_open
WORK_DIR/meta.txt holds "key<TAB>value" lines printed above the tables.

Every figure in a table is the median over the rounds; errors are summed over
all rounds, and a row with any error is flagged.
"""

import collections
import os
import re
import statistics
import sys

LABELS = {
    "direct": "direct (wrk → upstream)",
    "gatewayd": "gatewayd",
    "nginx": "nginx",
    "haproxy": "HAProxy",
    "gw-chain": "gatewayd + feature chain",
    "gw-2w": "gatewayd, 2 workers",
    "gw-baseline": "gatewayd, baseline build (--baseline)",
}


def parse_duration_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError("bad wrk duration: " + text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[unit]


def parse_wrk(path):
    """Requests, req/s, p50/p99 (µs), non-2xx/3xx and socket errors of one run."""
    text = open(path, encoding="utf-8", errors="replace").read()
    out = {"non2xx": 0, "sock_errors": 0}
    m = re.search(r"^\s*(\d+) requests in ", text, re.M)
    if not m:
        raise ValueError(f"{path}: no request count (did wrk fail?)\n{text}")
    out["requests"] = int(m.group(1))
    out["rps"] = float(re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M).group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s*{pct}%\s+(\S+)", text, re.M)
        out["p" + pct] = parse_duration_us(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["sock_errors"] = sum(int(g) for g in m.groups())
    return out


def fmt_us(us):
    if us != us:  # NaN
        return "—"
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"


def fmt_count(n):
    return f"{n:,.0f}".replace(",", " ")


def load(work):
    runs = collections.defaultdict(list)  # (section, target, conns) -> [round dicts]
    with open(os.path.join(work, "runs.tsv")) as f:
        for line in f:
            (section, target, conns, rnd, wrk_file, pcpu, ucpu, rss, opened, wait,
             wall) = line.rstrip("\n").split("\t")
            r = parse_wrk(os.path.join(work, wrk_file))
            r["round"] = int(rnd)
            r["proxy_cpu"] = float(pcpu) if pcpu != "-" else None
            r["up_cpu"] = float(ucpu)
            r["rss_kb"] = int(rss) if rss != "-" else None
            r["opened"] = int(opened)
            r["wait_pct"] = float(wait) / float(wall) * 100 if wait != "-" else None
            runs[(section, target, int(conns))].append(r)
    idle = {}
    path = os.path.join(work, "idle.tsv")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                target, n, before, after, still_open = line.split("\t")
                idle[target] = {
                    "n": int(n),
                    "before": int(before),
                    "after": int(after),
                    "open": int(still_open),
                }
    return runs, idle


def summarize(rounds):
    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    s = {
        "rounds": len(rounds),
        "rps": med([r["rps"] for r in rounds]),
        "p50": med([r["p50"] for r in rounds]),
        "p99": med([r["p99"] for r in rounds]),
        "non2xx": sum(r["non2xx"] for r in rounds),
        "sock_errors": sum(r["sock_errors"] for r in rounds),
        "up_us": med([r["up_cpu"] / r["requests"] * 1e6 for r in rounds if r["requests"]]),
        "proxy_us": None,
        "ratio": None,
        "rss_kb": med([r["rss_kb"] for r in rounds]),
        "opened": med([r["opened"] for r in rounds]),
        "wait_pct": med([r["wait_pct"] for r in rounds]),
    }
    with_proxy = [r for r in rounds if r["proxy_cpu"] is not None and r["requests"]]
    if with_proxy:
        s["proxy_us"] = med([r["proxy_cpu"] / r["requests"] * 1e6 for r in with_proxy])
        s["ratio"] = med([r["proxy_cpu"] / r["up_cpu"] for r in with_proxy if r["up_cpu"] > 0])
    return s


def idle_kib(idle, target):
    i = idle.get(target)
    if not i or i["n"] == 0:
        return "—"
    text = f"{(i['after'] - i['before']) / i['n']:.2f}"
    if i["open"] < i["n"]:
        text += f" ⚠ {i['n'] - i['open']} closed"
    return text


def table(runs, idle, section, targets, baseline):
    """One markdown table; `baseline` is the target the last column compares to."""
    conns_levels = sorted({c for (sec, _, c) in runs if sec == section})
    if not conns_levels:
        return [], []
    extra = "req/s ÷ nginx" if baseline == "nginx" else "CPU/req vs bare"
    lines = [
        f"| Target | Conns | req/s | p50 | p99 | proxy CPU µs/req | upstream CPU µs/req "
        f"| proxy ÷ upstream CPU | {extra} | proxy RSS MiB | KiB per idle conn "
        f"| new upstream conns | proxy CPU wait | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    flagged = []
    for conns in conns_levels:
        base = runs.get((section, baseline, conns))
        base_s = summarize(base) if base else None
        for target in targets:
            rounds = runs.get((section, target, conns))
            if not rounds:
                continue
            s = summarize(rounds)
            errors = s["non2xx"] + s["sock_errors"]
            err_text = "0"
            if errors:
                err_text = f"⚠ {s['non2xx']} non-2xx, {s['sock_errors']} socket"
                flagged.append(f"{LABELS.get(target, target)} at {conns} connections")
            if target == "direct" or base_s is None or target == baseline:
                cmp = "—"
            elif baseline == "nginx":
                cmp = f"{s['rps'] / base_s['rps']:.2f}×"
            else:
                cmp = f"{(s['proxy_us'] / base_s['proxy_us'] - 1) * 100:+.0f}%"
            lines.append(
                "| {label} | {conns} | {rps} | {p50} | {p99} | {pcpu} | {ucpu} | {ratio} "
                "| {cmp} | {rss} | {idle} | {opened} | {wait} | {err} |".format(
                    label=LABELS.get(target, target),
                    conns=conns,
                    rps=fmt_count(s["rps"]),
                    p50=fmt_us(s["p50"]),
                    p99=fmt_us(s["p99"]),
                    pcpu=f"{s['proxy_us']:.1f}" if s["proxy_us"] is not None else "—",
                    ucpu=f"{s['up_us']:.1f}" if s["up_us"] is not None else "—",
                    ratio=f"{s['ratio']:.2f}×" if s["ratio"] is not None else "—",
                    cmp=cmp,
                    rss=f"{s['rss_kb'] / 1024:.1f}" if s["rss_kb"] is not None else "—",
                    idle=idle_kib(idle, target) if section == "compare" else "—",
                    opened=fmt_count(s["opened"]),
                    wait=f"{s['wait_pct']:.0f}%" if s["wait_pct"] is not None else "—",
                    err=err_text,
                )
            )
    return lines, flagged


def main():
    work = sys.argv[1]
    runs, idle = load(work)
    out = []
    meta_path = os.path.join(work, "meta.txt")
    if os.path.exists(meta_path):
        for line in open(meta_path):
            key, _, value = line.rstrip("\n").partition("\t")
            out.append(f"- {key}: {value}")
        out.append("")

    flagged = []
    lines, f = table(
        runs, idle, "compare", ["direct", "gatewayd", "gw-baseline", "nginx", "haproxy"], "nginx"
    )
    if lines:
        out += ["### Proxies compared (one worker each)", ""] + lines + [""]
        flagged += f
    lines, f = table(runs, idle, "features", ["gatewayd", "gw-chain", "gw-2w"], "gatewayd")
    if lines:
        out += ["### Feature cost (gatewayd)", ""] + lines + [""]
        flagged += f
    if idle:
        out += [
            "### Idle keep-alive connections",
            "",
            "| Proxy | connections | RSS before MiB | RSS after MiB | KiB per connection "
            "| still open at the end |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for target, i in idle.items():
            out.append(
                f"| {LABELS.get(target, target)} | {fmt_count(i['n'])} | {i['before'] / 1024:.1f} "
                f"| {i['after'] / 1024:.1f} | {idle_kib(idle, target)} | {fmt_count(i['open'])} |"
            )
        out.append("")
    if flagged:
        out.append("**⚠ Runs with errors (their figures are suspect):** "
                   + "; ".join(flagged) + ".")
    else:
        out.append("No run had errors (non-2xx responses or socket errors).")
    print("\n".join(out))


if __name__ == "__main__":
    main()
