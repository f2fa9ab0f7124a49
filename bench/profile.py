"""Where a route's time goes: ``python -m bench.profile ROUTE [--seconds S] [--store sqlite|redis]``.

ROUTE: mint | mint-sites (a new site each request) | create | end, or bare-create | bare-create-aiohttp |
bare-json | bare-json-full for the baselines.
Starts the sandbox engine and widget-server as ``python -m bench`` does, loads the route with wrk and
samples the server with py-spy (``pip install py-spy``) meanwhile. Prints the functions with the most
samples, inclusive and self, as shares of the busy samples (idle waits in the event loop are left out),
and keeps the collapsed stacks (flamegraph input) in the file named by --out.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.procs import LOAD_CORE, SERVER_KEY, Stack, wrk_cmd

ROUTES = {
    "mint": ("/api/widgets/bench/sessions", "post.lua"),
    "mint-sites": ("/api/widgets/bench/sessions", "mint_sites.lua"),
    "create": ("/api/widgets/bench/conversations", "post.lua"),
    "end": ("/api/widgets/bench/conversations", "create_end.lua"),
    # The baselines, for comparison: the bare proxy's create and the bare JSON endpoint.
    "bare-create": ("/create", "post.lua"),
    "bare-create-aiohttp": ("/create-aiohttp", "post.lua"),
    "bare-json": ("/json", "post.lua"),
    "bare-json-full": ("/json-full", "post.lua"),
}


def summarise(collapsed: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("site-packages/")[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    lines = [f"{total} busy samples", "", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    ours = [(f, n) for f, n in inclusive.most_common() if "(widget_server/" in f and n < total * 0.9]
    lines += ["", "widget_server functions, inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in ours[:top]]
    lines += ["", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profile")
    ap.add_argument("route", choices=sorted(ROUTES))
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None, help="keep the collapsed stacks here")
    args = ap.parse_args()
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin")
    if not spy:
        raise SystemExit("py-spy not found: pip install py-spy")
    path, script = ROUTES[args.route]
    bare = args.route.startswith("bare-")
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), store=args.store, bare=bare) as stack:
        out = args.out or Path(tmp) / "stacks.txt"
        url, pid = (stack.bare_url(path), stack.bare_pid) if bare else (stack.url(path), stack.pids[0])
        load = subprocess.Popen(wrk_cmd(url, args.seconds + 2, script=script, core=LOAD_CORE),
                                stdout=subprocess.PIPE, text=True, env={"BENCH_AUTH": SERVER_KEY, "PATH": "/usr/bin"})
        subprocess.run([spy, "record", "--pid", str(pid), "--duration", str(args.seconds),
                        "--rate", "250", "--format", "raw", "--output", str(out)],
                       check=True, capture_output=True)
        rps = load.communicate()[0]
        print(summarise(out, args.top))
        print("\nwrk:", next((ln for ln in rps.splitlines() if ln.startswith("Requests/sec")), "?"),
              "(slowed by sampling)")


if __name__ == "__main__":
    main()
