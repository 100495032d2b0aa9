"""N concurrent gradio_client users on the Classify endpoint of the demo app: errors, refusals, p50, p95,
the place in line each waiting call was shown, and the server's memory before and after; then bursts
of image bombs and an oversized request body against the same server.

    python benchmarks/load.py [--users 100] [--calls 4] [--model demo-vit] [--shared] [--url URL]
                              [--bombs 12] [--no-bombs] [--smoke]

Starts ``python -m tlweb serve --demo`` in its own process (a fresh TLWEB_HOME, offline) unless
``--url`` points at a running app, then:

1. baseline: one user making ``--calls`` calls one after another (after a warm-up call that loads
   the model);
2. load: ``--users`` users at once, each its own ``gradio_client.Client`` (its own session) making
   ``--calls`` calls one after another with the example photo; every call is submitted and watched,
   so the queue position it was shown (``job.status().rank``) is counted;
3. bombs (issue 17, unless ``--no-bombs``): ``--bombs`` inline 16-bit RGBA 8000 × 8000 PNGs (0.7 MB,
   512 MB decoded) sent to ``/classify`` one after another, then four rounds of 8 at once; the same with
   the largest image the limits allow (8-bit RGBA 8000 × 8000, 256 MB decoded); a 400 MB JSON body.
   The server's RSS is read after each phase (``/proc/<pid>/status``).

Prints per-call latency (upload + queue + classify + answer, as a user waits for it) p50 / p95 /
max, errors (and how many were refusals), throughput, the ratio of the loaded p50 to the single-user
p50 measured in the same run, and RSS. The last line is one JSON object. The app queues Classify two
at a time (``default_concurrency_limit=2``): under load, latency is mostly waiting in that queue.
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


def server_rss_mb(pid: int | None) -> float | None:
    """The server's resident memory (MB), or None when it is not our process (``--url``)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return None


REFUSALS = ("queue is full", "requests waiting", "already has", "please try again")


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
         timeout: float, ranks: list | None = None) -> None:
    from gradio_client import Client, handle_file
    from gradio_client.utils import Status

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
                job = client.submit(handle_file(image), model, "", 5, api_name="/classify")
                shown = None
                while not job.done():
                    st = job.status()
                    if st.code == Status.IN_QUEUE and st.rank is not None:
                        shown = st.rank if shown is None else max(shown, st.rank)
                    time.sleep(0.05)
                _, facts = job.result(timeout=timeout)
                if "latency" not in facts:
                    raise RuntimeError("an answer without a result")
                out.append(time.perf_counter() - t0)
                if ranks is not None:
                    ranks.append(shown)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
    finally:
        client.close()


def run_users(url: str, image: str, model: str, users: int, calls: int, timeout: float = 60) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    ranks: list = []
    gate = Gate(users)
    threads = [threading.Thread(target=user, args=(url, image, model, calls, latencies, errors, gate, timeout, ranks),
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
    shown = [r for r in ranks if r is not None]
    return {"users": users, "calls": users * calls, "ok": len(latencies), "errors": len(errors),
            "refused": sum(any(w in e.lower() for w in REFUSALS) for e in errors),
            "calls_shown_a_place": len(shown), "max_place_shown": max(shown, default=None),
            "error_samples": sorted(set(errors))[:5], "p50_s": percentile(latencies, 0.5),
            "p95_s": percentile(latencies, 0.95), "max_s": max(latencies, default=float("nan")),
            "connect_s": connect, "wall_s": wall, "calls_per_s": len(latencies) / wall if wall else float("nan")}


def _classify_inline(url: str, png: bytes, timeout: float = 300) -> str:
    """POST an inline image (base64 data URL) to /classify as a bare HTTP client would; the answer's kind."""
    import base64

    import httpx

    base = url.rstrip("/")
    data = [{"path": None, "url": "data:image/png;base64," + base64.b64encode(png).decode(),
             "meta": {"_type": "gradio.FileData"}}, "demo-vit", "", 5, ""]
    r = httpx.post(f"{base}/gradio_api/call/classify", json={"data": data}, timeout=timeout)
    if r.status_code != 200:
        return f"http {r.status_code}"
    kind = "none"
    with httpx.stream("GET", f"{base}/gradio_api/call/classify/{r.json()['event_id']}", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
                if kind in ("complete", "error"):
                    break
    return kind


def bomb_phase(url: str, pid: int | None, bombs: int) -> dict:
    """Issue 17's memory probe: each burst of inline PNGs, then the server's RSS."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tests.security.bombs import png_bomb

    out: dict = {"rss_start_mb": server_rss_mb(pid)}
    for name, depth in (("rgba16_512mb", 16), ("rgba8_256mb", 8)):
        png = png_bomb(depth=depth)
        kinds = [_classify_inline(url, png) for _ in range(bombs)]
        out[f"{name}_sequential"] = {"answers": {k: kinds.count(k) for k in set(kinds)},
                                     "rss_after_mb": server_rss_mb(pid)}
        peak = 0.0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(4):
                futures = [pool.submit(_classify_inline, url, png) for _ in range(8)]
                while not all(f.done() for f in futures):
                    peak = max(peak, server_rss_mb(pid) or 0.0)
                    time.sleep(0.2)
                kinds = [f.result() for f in futures]
        time.sleep(1)
        out[f"{name}_4x8_at_once"] = {"answers": {k: kinds.count(k) for k in set(kinds)}, "rss_peak_mb": peak,
                                      "rss_after_mb": server_rss_mb(pid)}
    body = b'{"data": ["' + b"A" * (400 * 1024 * 1024) + b'"]}'
    r = httpx.post(f"{url.rstrip('/')}/gradio_api/call/classify", content=body,
                   headers={"content-type": "application/json"}, timeout=300)
    del body
    out["json_400mb"] = {"status": r.status_code, "answer": r.text[:200], "rss_after_mb": server_rss_mb(pid)}
    return out


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
    ap.add_argument("--bombs", type=int, default=12, help="image bombs per burst after the load (issue 17)")
    ap.add_argument("--no-bombs", action="store_true", help="skip the bombs and the oversized body")
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing; no bombs)")
    args = ap.parse_args()
    if args.smoke:
        args.users, args.calls, args.no_bombs = 2, 1, True

    proc = home = None
    url = args.url
    if url is None:
        proc, url, home = start_server(args.shared)
    pid = proc.pid if proc is not None else None
    bombs = None
    try:
        run_users(url, args.image, args.model, 1, 1)  # warm-up: the model loads on the first call
        rss_before = server_rss_mb(pid)
        base = run_users(url, args.image, args.model, 1, args.calls, args.timeout)
        load = run_users(url, args.image, args.model, args.users, args.calls, args.timeout)
        time.sleep(2)
        rss_after = server_rss_mb(pid)
        if not args.no_bombs:
            bombs = bomb_phase(url, pid, args.bombs)
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
    print(f"refused {load['refused']}; {load['calls_shown_a_place']} calls were shown their place in line "
          f"(up to {load['max_place_shown']} ahead)")
    if rss_before is not None:
        print(f"server RSS: {rss_before:.0f} MB after the warm-up call, {rss_after:.0f} MB after the load")
    for sample in load["error_samples"]:
        print(f"  error: {sample}")
    if bombs is not None:
        for phase, value in bombs.items():
            print(f"  {phase}: {value}")
    print(json.dumps({"mode": "shared" if args.shared else "local", "model": args.model, "timeout_s": args.timeout,
                      "baseline": base, "load": load, "p50_ratio": ratio, "rss_before_mb": rss_before,
                      "rss_after_mb": rss_after, "bombs": bombs}))
    if args.smoke and (base["errors"] or load["errors"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
