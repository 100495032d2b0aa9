"""N concurrent gradio_client users on the Classify endpoint of the demo app: errors, p50, p95.

    python benchmarks/load.py [--users 100] [--calls 4] [--model demo-vit] [--shared] [--url URL] [--smoke]

Starts ``python -m tlweb serve --demo`` in its own process (a fresh TLWEB_HOME, offline) unless
``--url`` points at a running app, then:

1. baseline: one user making ``--calls`` calls one after another (after a warm-up call that loads
   the model);
2. load: ``--users`` users at once, each its own ``gradio_client.Client`` (its own session) making
   ``--calls`` calls one after another with the example photo.

Prints per-call latency (upload + queue + classify + answer, as a user waits for it) p50 / p95 /
max, errors, throughput, and the ratio of the loaded p50 to the single-user p50 measured in the
same run. The last line is one JSON object. The app queues Classify two at a time
(``default_concurrency_limit=2``): under load, latency is mostly waiting in that queue.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(shared: bool) -> tuple[subprocess.Popen, str, Path]:
    home = Path(tempfile.mkdtemp(prefix="tlweb-load-"))
    port = _free_port()
    env = dict(os.environ, TLWEB_HOME=str(home / "home"), HF_HUB_OFFLINE="1", HF_HOME=str(home / "hf"),
               GRADIO_ANALYTICS_ENABLED="False", TLWEB_SHARED="1" if shared else "0")
    cmd = [sys.executable, "-m", "tlweb", "serve", "--demo", "--port", str(port)] + (["--shared"] if shared else [])
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the app exited before serving")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc, url, home
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not answer within 180 s")


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Gate:
    """Every user connects first (its own Client and session); the calls start together."""

    def __init__(self, users: int):
        self.users, self.ready, self.lock = users, 0, threading.Lock()
        self.start = threading.Event()

    def arrived(self) -> None:
        with self.lock:
            self.ready += 1

    def wait_all(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.ready < self.users and time.monotonic() < deadline:
            time.sleep(0.1)
        self.start.set()


def user(url: str, image: str, model: str, calls: int, out: list, errors: list, gate: Gate,
         timeout: float) -> None:
    from gradio_client import Client, handle_file

    try:
        client = Client(url, verbose=False, httpx_kwargs={"timeout": timeout})
    except Exception as exc:  # noqa: BLE001 - counted, the run goes on
        errors.append(f"connect: {type(exc).__name__}: {str(exc)[:120]}")
        gate.arrived()
        return
    gate.arrived()
    gate.start.wait()
    try:
        for _ in range(calls):
            t0 = time.perf_counter()
            try:
                _, facts = client.predict(handle_file(image), model, "", 5, api_name="/classify")
                if "latency" not in facts:
                    raise RuntimeError("an answer without a result")
                out.append(time.perf_counter() - t0)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
    finally:
        client.close()


def run_users(url: str, image: str, model: str, users: int, calls: int, timeout: float = 60) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    gate = Gate(users)
    threads = [threading.Thread(target=user, args=(url, image, model, calls, latencies, errors, gate, timeout),
                                daemon=True)
               for _ in range(users)]
    t_connect = time.perf_counter()
    for t in threads:
        t.start()
    gate.wait_all()
    connect = time.perf_counter() - t_connect
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"users": users, "calls": users * calls, "ok": len(latencies), "errors": len(errors),
            "error_samples": sorted(set(errors))[:5], "p50_s": percentile(latencies, 0.5),
            "p95_s": percentile(latencies, 0.95), "max_s": max(latencies, default=float("nan")),
            "connect_s": connect, "wall_s": wall, "calls_per_s": len(latencies) / wall if wall else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--calls", type=int, default=4, help="calls per user, one after another")
    ap.add_argument("--model", default="demo-vit")
    ap.add_argument("--image", default=str(ROOT / "tlweb" / "assets" / "examples" / "cat.jpg"))
    ap.add_argument("--shared", action="store_true", help="serve in shared mode (what --host 0.0.0.0 gives)")
    ap.add_argument("--url", help="a running app instead of starting one")
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds a user waits for each HTTP answer (gradio_client's own default is 5; browsers wait)")
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args()
    if args.smoke:
        args.users, args.calls = 2, 1

    proc = home = None
    url = args.url
    if url is None:
        proc, url, home = start_server(args.shared)
    try:
        run_users(url, args.image, args.model, 1, 1)  # warm-up: the model loads on the first call
        base = run_users(url, args.image, args.model, 1, args.calls, args.timeout)
        load = run_users(url, args.image, args.model, args.users, args.calls, args.timeout)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        if home is not None:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    ratio = load["p50_s"] / base["p50_s"] if base["p50_s"] else float("nan")
    print(f"baseline, 1 user × {args.calls} calls: p50 {base['p50_s'] * 1000:.0f} ms, "
          f"p95 {base['p95_s'] * 1000:.0f} ms, errors {base['errors']}")
    print(f"load, {args.users} users × {args.calls} calls = {load['calls']} calls: errors {load['errors']}, "
          f"p50 {load['p50_s']:.2f} s, p95 {load['p95_s']:.2f} s, max {load['max_s']:.2f} s, "
          f"{load['calls_per_s']:.1f} calls/s over {load['wall_s']:.1f} s")
    print(f"p50 under load ÷ p50 alone: {ratio:.1f}")
    for sample in load["error_samples"]:
        print(f"  error: {sample}")
    print(json.dumps({"mode": "shared" if args.shared else "local", "model": args.model, "timeout_s": args.timeout,
                      "baseline": base,
                      "load": load, "p50_ratio": ratio}))
    if args.smoke and (base["errors"] or load["errors"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
