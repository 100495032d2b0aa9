"""ZeroGPU: every engine function that runs a model is decorated at module level, one line each.

    @gpu_task(images="image", models="model")
    def classify(image, model, top_k_n=5, settings=None): ...

What the decorator does depends on where the code runs (``TLWEB_ZEROGPU``, default ``auto``):

- **auto, off ZeroGPU** (a laptop, a GPU server, CI): nothing. The function is returned unchanged
  (it only gains a ``gpu_task`` attribute), ``spaces`` is not even imported.
- **auto, on ZeroGPU** (``SPACES_ZERO_GPU=true`` and the real ``spaces`` package): the function
  becomes ``spaces.GPU(duration=…)(fn)``. ZeroGPU then runs every call in a *forked* worker:
  arguments and results cross through pickled queues, a generator streams each ``yield``.
- **emulate**: the same, with :func:`emulated_gpu`, a stand-in that really forks and pickles
  as ZeroGPU does (``multiprocessing`` fork context, a pipe each way, a stop event for
  generators, an abort when the requested duration runs out). Run the app or the tests with
  ``TLWEB_ZEROGPU=emulate`` to find what would break on a Space before pushing it.
- **off**: never wrap.

Duration: ZeroGPU wants to know how long the GPU is needed *before* it lends one: the Space
visitor's quota must cover it and shorter requests queue first. ``duration`` here is computed
from the job (:class:`Job`: images × model size, plus fixed costs), rounded up and clamped to
``[MIN_S, cap]``. Limits, as read from the ``spaces`` package (0.51) and the Hub docs:

- the default when no duration is given is 60 s (``spaces.zero.client.DEFAULT_SCHEDULE_DURATION``);
- the server refuses a request above its per-call maximum ("ZeroGPU illegal duration"); the
  maximum is not published (Hugging Face staff: "around a few minutes", 5 min at most), so
  :data:`ZEROGPU_MAX_S` is 300 s;
- daily quotas are 2 min for anonymous visitors, 3.5 min for free accounts, 25 min for PRO
  (Hub docs, "Usage Tiers"); a request larger than what the visitor has left is refused
  outright, so inference asks for at most :data:`INFERENCE_CAP_S` = 120 s;
- a generator may stream for at most 20 min (``GENERATOR_GLOBAL_TIMEOUT``).

Errors: ZeroGPU forwards only ``gr.Error`` from its worker (anything else becomes "ZeroGPU worker
error: <class name>"), and the engine must not import gradio. So inside the worker every
exception is caught and sent back as a value (:class:`Raised`), and the caller re-raises the
original exception, class and sentence intact (:class:`tlweb.errors.TlwebError` stays itself).

Fork safety: GNU OpenMP's thread pool does not survive ``fork``: a child whose parent already
ran a parallel torch op hangs in its first one. The worker therefore drops torch to one CPU
thread (the GPU does the heavy work there; on ZeroGPU the parent never computes anyway).

Stop: an Event or an in-process queue set in the parent never reaches the worker. A long job
stops through the file system instead: :class:`tlweb.engine.stop.Stop` (the run or experiment
folder's STOP file, picklable, a ``should_stop``) is asked by the Stop button and checked by the
fine-tune between steps, and by any other generator that takes a ``should_stop``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import multiprocessing
import os
import pickle
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

log = logging.getLogger(__name__)

ZEROGPU_MAX_S = 300  # the largest per-call request ZeroGPU is known to accept (see the docstring)
INFERENCE_CAP_S = 120  # an anonymous visitor's whole daily quota: inference never asks for more
TRAIN_CAP_S = ZEROGPU_MAX_S
MIN_S = 20  # worker start + CUDA context + first kernels; a shorter request risks an abort
DEFAULT_S = 60  # ZeroGPU's own default (spaces.zero.client.DEFAULT_SCHEDULE_DURATION)

WORKER_START_S = 6.0  # fork, CUDA init, ZeroGPU moving packed tensors to the device
LOAD_S = 1.0  # fixed cost of loading a model from the local disk cache
LOAD_S_PER_M = 0.03  # per million parameters (disk → GPU, bf16 cast): ViT-B ≈ 2.6 s
IMAGE_S = 0.05  # per image: decode, preprocess, post-process on the CPU side
IMAGE_S_PER_M = 0.002  # per image per million parameters (single-image GPU latency with margin)
UNKNOWN_PARAMS_M = 150.0  # a Hub id we know nothing about yet: assume a large base model

ENV = "TLWEB_ZEROGPU"  # auto | emulate | off


# --------------------------------------------------------------------------- durations


def model_params_m(model, settings=None) -> float:
    """Millions of parameters of a model name / ModelSpec, without loading it or the network.

    Catalog entries carry it; local and demo folders are measured by their weight files
    (4 bytes a parameter); anything else (a Hub id not downloaded yet) is assumed large.
    """
    try:
        from tlweb.catalog import ModelSpec
        from tlweb.engine.listing import resolve

        spec = model if isinstance(model, ModelSpec) else resolve(str(model), settings=settings)
        if spec.params_m:
            return float(spec.params_m)
        folder = Path(spec.hub_id)
        if spec.is_local and folder.is_dir():
            size = sum(p.stat().st_size for p in folder.glob("*.safetensors")) or \
                sum(p.stat().st_size for p in folder.glob("*.bin"))
            if size:
                return size / 4e6
    except Exception:  # noqa: BLE001 - a duration estimate must never fail the call
        pass
    return UNKNOWN_PARAMS_M


def _count(value) -> int:
    """How many images an argument holds (one path/PIL/array, a list of them, or a data set's splits)."""
    if value is None:
        return 0
    if isinstance(value, (list, tuple)):
        return len(value)
    counts = getattr(value, "counts", None)  # a PreparedData: every image of every split
    if callable(counts):
        try:
            return sum(n for split in counts().values() for n in split.values())
        except Exception:  # noqa: BLE001 - an estimate must never fail the call
            return 1
    return 1


def _models(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [m.strip() for m in value.split(",") if m.strip()]
    if isinstance(value, (list, tuple)):
        return [m for m in value if m]
    return [value]


@dataclass(frozen=True)
class Job:
    """How long a call needs the GPU, from its arguments (looked up by parameter name).

    ``images``/``models``: names of the parameters holding the image(s) and model name(s).
    ``image_factor``: per-image cost relative to classification (segmentation resamples masks
    at full size: 3). ``per_model_s``: a number, or the name of a parameter holding seconds
    spent per model beyond the images (Compare's timing budget).
    """

    images: str | None = None
    models: str | None = None
    image_factor: float = 1.0
    per_model_s: float | str = 0.0
    extra_s: float = 0.0

    def seconds(self, bound: dict) -> float:
        n_images = _count(bound.get(self.images)) if self.images else 1
        names = _models(bound.get(self.models)) if self.models else []
        settings = bound.get("settings")
        per_model = self.per_model_s
        if isinstance(per_model, str):
            try:
                per_model = float(bound.get(per_model) or 0.0)
            except (TypeError, ValueError):
                per_model = 0.0
        total = WORKER_START_S + self.extra_s
        for name in names or [None]:
            p = model_params_m(name, settings) if name is not None else UNKNOWN_PARAMS_M
            total += LOAD_S + LOAD_S_PER_M * p + per_model
            total += n_images * (IMAGE_S + IMAGE_S_PER_M * p) * self.image_factor
        return total

    def rule(self) -> str:
        """The duration rule in words (for the docs and ``python -m tlweb space --gpu-tasks``)."""
        per_model = (f" + {self.per_model_s}" if isinstance(self.per_model_s, str)
                     else (f" + {self.per_model_s:g} s" if self.per_model_s else ""))
        factor = f" × {self.image_factor:g}" if self.image_factor != 1 else ""
        extra = f" + {self.extra_s:g} s" if self.extra_s else ""
        images = f"N = images in `{self.images}`, " if self.images else ""
        models = f"each model in `{self.models}`" if self.models else "the model"
        return (f"{WORKER_START_S:g} s{extra} + for {models}: ({LOAD_S:g} + {LOAD_S_PER_M:g}·P) s{per_model}"
                f" + {'N' if self.images else '1'} × ({IMAGE_S:g} + {IMAGE_S_PER_M:g}·P) s{factor}; "
                f"{images}P = millions of parameters")


def clamp_duration(seconds: float, cap: float = INFERENCE_CAP_S) -> int:
    """Whole seconds in ``[MIN_S, min(cap, ZEROGPU_MAX_S)]`` (a bad estimate gives the default)."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        s = DEFAULT_S
    if not math.isfinite(s):
        s = DEFAULT_S
    return int(max(MIN_S, min(math.ceil(s), cap, ZEROGPU_MAX_S)))


# --------------------------------------------------------------------------- the registry


@dataclass
class GpuTask:
    """One decorated function: what it is, how its duration is computed, how it is wrapped."""

    name: str
    fn: Callable  # the undecorated function
    estimate: Callable[[dict], float]  # bound arguments → seconds (before clamping)
    cap: float
    rule: str
    mode: str = "off"
    # the parameter naming the model(s), or a function of the bound arguments giving them: fetched
    # before the GPU is asked for
    models_arg: str | Callable[[dict], list] | None = None
    signature: inspect.Signature | None = field(default=None, repr=False)

    def bind(self, args, kwargs) -> dict:
        sig = self.signature or inspect.signature(self.fn)
        try:
            bound = sig.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            return dict(bound.arguments)
        except TypeError:
            return dict(kwargs)

    def duration(self, *args, **kwargs) -> int:
        """Seconds to ask ZeroGPU for: the signature ``spaces.GPU(duration=…)`` calls."""
        try:
            seconds = self.estimate(self.bind(args, kwargs))
        except Exception:  # noqa: BLE001
            log.exception("duration estimate for %s failed", self.name)
            seconds = DEFAULT_S
        return clamp_duration(seconds, self.cap)


GPU_TASKS: dict[str, GpuTask] = {}


def mode() -> str:
    """off | emulate | zerogpu, from ``TLWEB_ZEROGPU`` and ``SPACES_ZERO_GPU``."""
    want = (os.environ.get(ENV) or "auto").strip().lower()
    if want in ("off", "0", "false", "no"):
        return "off"
    if want == "emulate":
        return "emulate"
    if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true") and spaces_gpu() is not None:
        return "zerogpu"
    return "off"


def fork_safe_environment(how: str = "emulate") -> None:
    """Settings a process that forks model workers needs, set before torch first computes.

    MKL's own memory manager (torch's CPU matrix products) keeps a spin lock that a forked worker can
    inherit held, and then spins forever in its first ``sgemm``; with ``MKL_DISABLE_FAST_MM`` MKL uses
    plain ``malloc``, which is fork-safe. Under the stand-in the parent must also not create a CUDA
    context the forked workers inherit."""
    os.environ.setdefault("MKL_DISABLE_FAST_MM", "1")
    if how == "emulate":
        os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")


def spaces_gpu():
    """``spaces.GPU`` when the ZeroGPU package is installed, else None.

    The repository's top-level ``spaces/`` folder (the Space template) has no ``__init__.py``;
    where the package is missing, ``import spaces`` finds that folder as an empty namespace
    package, so the attribute is checked rather than the import trusted.
    """
    try:
        import spaces
    except Exception:  # noqa: BLE001 - not installed, or broken
        return None
    gpu = getattr(spaces, "GPU", None)
    return gpu if callable(gpu) else None


def gpu_task(duration: Callable[[dict], float] | None = None, *, images: str | None = None,
             models: str | Callable[[dict], list] | None = None, image_factor: float = 1.0, per_model_s: float | str = 0.0,
             extra_s: float = 0.0, cap: float = INFERENCE_CAP_S, rule: str | None = None):
    """Decorator for an engine function that runs a model (see the module docstring).

    Either pass ``duration`` (bound arguments as a dict → seconds; for fine-tunes: epochs ×
    steps) or describe the job with ``images``/``models``/… (a :class:`Job`). With ``duration``,
    ``models`` may be a function of the bound arguments naming the models to download first. The result is
    clamped to ``[MIN_S, cap]``. Everything the function takes and returns must pickle when
    ZeroGPU is on; a generator streams each item it yields.
    """
    job = None if duration is not None else Job(images, models, image_factor, per_model_s, extra_s)
    estimate = duration if duration is not None else job.seconds
    text = rule or (job.rule() if job is not None else (duration.__doc__ or duration.__name__).strip())

    def decorate(fn):
        name = f"{fn.__module__}.{fn.__qualname__}"
        task = GpuTask(name, fn, estimate, cap, f"{text}; clamped to [{MIN_S}, {int(min(cap, ZEROGPU_MAX_S))}] s",
                       models_arg=models, signature=inspect.signature(fn))
        task.mode = mode()
        GPU_TASKS[name] = task
        if task.mode != "off":
            fork_safe_environment(task.mode)
        if task.mode == "off":
            fn.gpu_task = task
            return fn
        wrapper = wrap(task, emulated_gpu if task.mode == "emulate" else spaces_gpu())
        wrapper.gpu_task = task
        return wrapper

    return decorate


def wrap(task: GpuTask, gpu) -> Callable:
    """``task.fn`` behind a ``spaces.GPU``-like decorator ``gpu``, errors carried as values."""
    inner = _carry_errors(task.fn)
    decorated = gpu(duration=task.duration)(inner)
    if inspect.isgeneratorfunction(task.fn):

        @functools.wraps(task.fn)
        def call_gen(*args, **kwargs):
            prefetch(task, args, kwargs)
            for item in decorated(*args, **kwargs):
                yield Raised.unwrap(item)

        return call_gen

    @functools.wraps(task.fn)
    def call(*args, **kwargs):
        prefetch(task, args, kwargs)
        return Raised.unwrap(decorated(*args, **kwargs))

    return call


_FETCHED: set[tuple[str, str | None]] = set()  # downloaded by this process already


def prefetch(task: GpuTask, args, kwargs) -> None:
    """Download Hub models before the GPU is asked for, so GPU time is not spent on the network.

    Best effort: any failure is left for the task itself to report (it loads the same model).
    """
    if not task.models_arg:
        return
    bound = task.bind(args, kwargs)
    settings = bound.get("settings")
    named = task.models_arg(bound) if callable(task.models_arg) else bound.get(task.models_arg)
    for name in _models(named):
        try:
            from tlweb.catalog import ModelSpec
            from tlweb.engine.availability import hub_offline_forced
            from tlweb.engine.listing import resolve
            from tlweb.engine.loading import download

            spec = name if isinstance(name, ModelSpec) else resolve(str(name), settings=settings)
            if spec.is_local or hub_offline_forced() or (spec.hub_id, spec.revision) in _FETCHED:
                continue
            download(spec.hub_id if spec.source == "hub" else spec.key, settings=settings)
            _FETCHED.add((spec.hub_id, spec.revision))
        except Exception as exc:  # noqa: BLE001
            log.info("prefetch of %s skipped: %s", name, exc)


# --------------------------------------------------------------------------- inside the worker


@dataclass
class Raised:
    """An exception sent back from the worker as a value (pickled), re-raised by the caller."""

    error: BaseException | None
    cls: str
    message: str
    trace: str

    @classmethod
    def of(cls, exc: BaseException) -> Raised:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        carried: BaseException | None = exc
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle travels as text
            carried = None
        return cls(carried, type(exc).__name__, str(exc), trace)

    @staticmethod
    def unwrap(value):
        if isinstance(value, Raised):
            log.debug("GPU worker raised:\n%s", value.trace)
            if value.error is not None:
                raise value.error
            raise RuntimeError(f"{value.cls}: {value.message}")
        return value


_PARENT_PID = os.getpid()


def _in_worker() -> None:
    """Called first thing in the decorated function: fix what ``fork`` broke (once per process)."""
    global _PARENT_PID
    pid = os.getpid()
    if pid == _PARENT_PID:
        return
    _PARENT_PID = pid
    import sys

    if "torch" in sys.modules:  # GNU OpenMP's pool is gone in a forked child (see the docstring)
        sys.modules["torch"].set_num_threads(1)


def _carry_errors(fn):
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args, **kwargs):
            _in_worker()
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - carried to the caller, re-raised there
                yield Raised.of(exc)

        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        _in_worker()
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            return Raised.of(exc)

    return call


# --------------------------------------------------------------------------- the stand-in


class GpuAborted(RuntimeError):
    """The emulated GPU task ran past its requested duration (ZeroGPU aborts it too)."""


EMULATOR_LOG: list[tuple[str, int]] = []  # (function name, seconds requested), one per call
EMULATOR_GRACE_S = 30.0  # the stand-in aborts this long after the requested duration ran out


def emulated_gpu(task=None, *, duration=None, size=None):
    """A stand-in for ``spaces.GPU`` that forks and pickles as ZeroGPU does.

    Each call forks a worker (``multiprocessing`` fork context), sends ``(args, kwargs)``
    pickled through a pipe (an argument that does not pickle raises ``PicklingError`` in the
    caller), runs the task there and sends the result back pickled; a generator's items come
    back one by one as they are yielded. Closing the caller's generator sets a stop event that
    the worker checks after each item (as ZeroGPU does). A worker still busy
    ``EMULATOR_GRACE_S`` after its requested duration is killed (:class:`GpuAborted`).
    """
    if task is None:
        return functools.partial(emulated_gpu, duration=duration, size=size)
    ctx = multiprocessing.get_context("fork")
    name = getattr(task, "__qualname__", str(task))

    def start(args, kwargs):
        from tlweb.engine import warmup

        warmup.wait()  # never fork while another thread is importing (the worker would wait on its lock)
        seconds = duration(*args, **kwargs) if callable(duration) else duration
        seconds = int(seconds.total_seconds()) if isinstance(seconds, timedelta) else int(seconds or DEFAULT_S)
        EMULATOR_LOG.append((name, seconds))
        parent_in, child_out = ctx.Pipe(duplex=False)
        child_in, parent_out = ctx.Pipe(duplex=False)
        stop = ctx.Event()
        proc = ctx.Process(target=_emulated_worker, args=(task, child_in, child_out, stop), daemon=True)
        proc.start()
        log.info("ZeroGPU stand-in: %s runs in forked worker %s (%d s requested)", name, proc.pid, seconds)
        child_in.close()
        child_out.close()
        try:
            parent_out.send((args, kwargs))  # pickles: fails here like ZeroGPU's queue.put
        except Exception:
            proc.kill()
            raise
        return proc, parent_in, stop, time.monotonic() + seconds + EMULATOR_GRACE_S

    def receive(proc, conn, deadline):
        while not conn.poll(0.2):
            if not proc.is_alive() and not conn.poll(0.2):
                raise GpuAborted(f"GPU task aborted: the worker for {name} exited ({proc.exitcode}).")
            if time.monotonic() > deadline:
                proc.kill()
                raise GpuAborted(f"GPU task aborted: {name} ran past its requested duration.")
        kind, value = conn.recv()
        if kind == "error":  # what ZeroGPU says about anything but a gr.Error
            raise RuntimeError(f"ZeroGPU worker error: {value}")
        return kind, value

    def finish(proc, stop, deadline):
        """Closed or done: the worker stops after its current item (ZeroGPU's stop event) and may
        finish cleanly (a fine-tune saves its model) until its duration is out; then it is killed."""
        stop.set()
        proc.join(max(5.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(5)

    if inspect.isgeneratorfunction(task):

        @functools.wraps(task)
        def gen_handler(*args, **kwargs):
            proc, conn, stop, deadline = start(args, kwargs)
            try:
                while True:
                    kind, value = receive(proc, conn, deadline)
                    if kind == "end":
                        return
                    yield value
            finally:
                finish(proc, stop, deadline)

        return gen_handler

    @functools.wraps(task)
    def handler(*args, **kwargs):
        proc, conn, stop, deadline = start(args, kwargs)
        try:
            return receive(proc, conn, deadline)[1]
        finally:
            finish(proc, stop, deadline)

    return handler


def _emulated_worker(task, conn_in, conn_out, stop) -> None:
    """The forked side: unpickle the arguments, run, send each result pickled.

    One torch thread in the worker, as torch's own DataLoader workers do: a forked child that reuses
    the parent's OpenMP pool can hang in its first parallel region (the stand-in runs on CPUs; on
    ZeroGPU the work is on the GPU)."""
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    args, kwargs = conn_in.recv()

    def send(kind, value) -> bool:
        try:
            conn_out.send((kind, value))
            return True
        except Exception as exc:  # noqa: BLE001 - an unpicklable result: say so, as ZeroGPU does
            conn_out.send(("error", f"{type(exc).__name__}: {exc}"))
            return False

    try:
        if inspect.isgeneratorfunction(task):
            gen = task(*args, **kwargs)
            for item in gen:
                if stop.is_set():
                    gen.close()
                    break
                if not send("item", item):
                    gen.close()
                    return
            send("end", None)
        else:
            send("result", task(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - what ZeroGPU reports for a non-gradio error
        send("error", type(exc).__name__)


def describe() -> list[dict]:
    """Every GPU function of the engine with its duration rule (imports the engine modules)."""
    import importlib
    import pkgutil

    import tlweb.engine

    for info in pkgutil.walk_packages(tlweb.engine.__path__, "tlweb.engine."):
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # noqa: BLE001 - an optional module that cannot import here
            log.info("not listed: %s (%s)", info.name, exc)
    return [{"name": t.name, "rule": t.rule, "cap_s": int(min(t.cap, ZEROGPU_MAX_S)), "mode": t.mode}
            for t in sorted(GPU_TASKS.values(), key=lambda t: t.name) if not t.name.startswith(("tests.", "__main__"))]
