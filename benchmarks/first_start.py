"""First start on an empty home: `python app.py --demo` launch → the page's first HTTP 200,
against the old path (every demo model built before the server starts), in the same run.

    python benchmarks/first_start.py [--runs 3] [--port 7893] [--smoke]

Each run gets a fresh, empty TLWEB_HOME. "new" is `python app.py --demo` as shipped; "old" is
the same command preceded by building every demo model in the same process (what `launch()`
did before demo models were built on first pick). Runs alternate (new, old, new, old …) so load
on the machine hits both; medians are printed with the ratio new ÷ old, and the terminal lines
each side printed (the old side's library progress bars are counted).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD = ("import sys; from tlweb.config import get_settings, set_settings; "
       "s = set_settings(get_settings().replace(demo=True)); "
       "from tlweb.engine.demo import build_all; build_all(s); "
       "from tlweb.cli import main; sys.exit(main(['serve', '--demo', '--port', sys.argv[1]]))")


def first_200(cmd: list[str], port: int, home: Path, timeout: float = 300.0) -> tuple[float, str]:
    env = dict(os.environ, TLWEB_HOME=str(home), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while time.perf_counter() - t0 < timeout:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200:
                    seconds = time.perf_counter() - t0
                    time.sleep(2.0)  # let the terminal lines that follow the first answer arrive
                    return seconds, _output(proc)
            except OSError:
                time.sleep(0.05)
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited: {_output(proc)}")
        raise TimeoutError(f"no HTTP 200 within {timeout} s")
    finally:
        _output(proc)  # stops the server (once it has answered, it is stopped already)


def _output(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--port", type=int, default=7893)
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args()
    if args.smoke:
        args.runs = 1
    sides = {"new": [sys.executable, "app.py", "--demo", "--port", str(args.port)],
             "old": [sys.executable, "-c", OLD, str(args.port)]}
    times: dict[str, list[float]] = {"new": [], "old": []}
    lines: dict[str, str] = {}
    for i in range(args.runs):
        for name, cmd in sides.items():
            with tempfile.TemporaryDirectory(prefix="tlweb-first-start-") as tmp:
                seconds, out = first_200(cmd, args.port, Path(tmp) / "home")
            times[name].append(seconds)
            lines[name] = out
            print(f"run {i + 1} {name}: {seconds:.2f} s", flush=True)
    new, old = statistics.median(times["new"]), statistics.median(times["old"])
    print(f"\nfirst HTTP 200 on an empty home, median of {args.runs}: new {new:.2f} s, old {old:.2f} s, "
          f"ratio new/old {new / old:.2f}")
    for name in ("new", "old"):
        text = lines[name]
        bars = text.count("Writing model shards") + text.count("it/s]")
        shown = [ln for ln in text.splitlines() if ln.strip()][:4]
        print(f"{name}: {len(text.splitlines())} terminal lines, {bars} library progress bars; first: {shown}")
    try:
        load = os.getloadavg()[0]
        print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")
    except OSError:
        pass


if __name__ == "__main__":
    main()
