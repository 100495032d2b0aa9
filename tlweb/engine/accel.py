"""Device side of training: accelerate runtime, on-device normalisation and augmentation.

- :class:`Runtime`: the device, bf16 autocast on CUDA (fp32 elsewhere), fused AdamW on CUDA and CPU, and,
  under ``accelerate launch -m tlweb finetune …`` on several GPUs, ``accelerate.Accelerator`` for
  the process group (each process trains on its shard of a DDP-wrapped model).
- :class:`Normalizer` reproduces the model processor's rescale + normalise as one per-channel
  affine map on uint8 tensors already on the device (the resize/crop happened once, on decode).
- :func:`augment` is the light augmentation: random horizontal flip and a small random resized
  crop (scale 0.7–1, aspect 3/4–4/3), one ``affine_grid`` + ``grid_sample`` per batch.
- :func:`training_threads` / :func:`cpu_threads`: a tiny model trains on one CPU thread (see there).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from tlweb.config import Settings, get_settings

log = logging.getLogger(__name__)


class Runtime:
    """Device, precision and process group of one training run.

    One process (the app, the CLI, a ZeroGPU worker): plain torch on :func:`pick_device`, no
    ``Accelerator`` — it would add nothing there, and its state is process-global (a second run
    asking for another precision or device in the same server process is refused by accelerate).
    Several processes (``accelerate launch``, ``WORLD_SIZE`` > 1): an ``Accelerator`` gives the
    device, rank and world size, DDP-wraps the model (:meth:`prepare`), runs ``backward``, waits
    and agrees on Stop (:meth:`any_process`). Precision is ours on every device: bf16 (or fp16)
    ``torch.autocast`` on CUDA per run, fp32 elsewhere; fused AdamW on CUDA and on the CPU (one kernel
    for every weight: on the CPU 3 ms a step where torch's default per-tensor loop took 48 ms for the
    demo detector's 281 weight tensors).
    """

    def __init__(self, settings: Settings | None = None):
        import torch

        from tlweb.engine.loading import pick_device

        settings = settings or get_settings()
        self.accelerator = None
        self.world_size = 1
        self.rank = 0
        want = pick_device(settings)
        if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
            from accelerate import Accelerator

            # cpu=True makes a CPU process group (gloo) where there is no GPU
            self.accelerator = Accelerator(cpu=want == "cpu", mixed_precision="no")
            device = self.accelerator.device
            self.world_size = self.accelerator.num_processes
            self.rank = self.accelerator.process_index
        else:
            device = torch.device(want)
            if device.type == "cuda" and device.index is not None:
                torch.cuda.set_device(device.index)
        self.device = device
        self.amp_dtype = None
        if device.type == "cuda" and settings.dtype.lower() not in ("float32", "fp32"):
            if settings.dtype.lower() in ("float16", "fp16"):
                self.amp_dtype = torch.float16
            elif torch.cuda.is_bf16_supported():
                self.amp_dtype = torch.bfloat16
        self.fused = device.type in ("cuda", "cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def precision(self) -> str:
        if self.amp_dtype is None:
            return "fp32"
        return str(self.amp_dtype).replace("torch.", "") + " autocast"

    def autocast(self):
        import torch

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def prepare(self, model, optimizer, find_unused: bool = False):
        """DDP-wrap for several processes (``find_unused``: weights may be frozen for some steps,
        as in two-step's first epoch); a single process keeps the plain model."""
        model = model.to(self.device)
        if self.distributed:
            if find_unused:
                from accelerate.utils import DistributedDataParallelKwargs

                self.accelerator.ddp_handler = DistributedDataParallelKwargs(find_unused_parameters=True)
            model, optimizer = self.accelerator.prepare(model, optimizer)
        return model, optimizer

    def unwrap(self, model):
        if self.distributed:
            return self.accelerator.unwrap_model(model)
        return model

    def backward(self, loss) -> None:
        if self.distributed:
            self.accelerator.backward(loss)
        else:
            loss.backward()

    def clip_grad_norm(self, model, max_norm: float) -> None:
        """Scale the gradients of ``model`` down to a total norm of at most ``max_norm`` (after backward)."""
        if self.distributed:
            self.accelerator.clip_grad_norm_(model.parameters(), max_norm)
        else:
            import torch

            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)

    def wait(self) -> None:
        if self.distributed:
            self.accelerator.wait_for_everyone()

    def any_process(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on any (so all stop at the same step)."""
        if not self.distributed:
            return bool(flag)
        import torch

        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        return bool(self.accelerator.reduce(t, reduction="sum").item() > 0)

    def synchronize(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def adamw(self, groups, lr: float):
        import torch

        kwargs = {"lr": lr, "betas": (0.9, 0.999)}
        if self.fused:
            kwargs["fused"] = True
        try:
            return torch.optim.AdamW(groups, **kwargs)
        except (RuntimeError, TypeError):  # fused unsupported for some parameter type
            kwargs.pop("fused", None)
            return torch.optim.AdamW(groups, **kwargs)


# --------------------------------------------------------------------------- CPU threads

# Below this many million parameters a model trains on one CPU thread. Its tensors are too small for
# intra-op threads to pay: on a 2-core machine shared with other work, a demo ResNet (0.03 M) took 0.55-1.26 s
# per training step with torch's two threads against 35-44 ms with one (measured; the two threads spin on each
# other and on the machine's other processes), so a strategy ladder on the built-in sample took minutes.
SMALL_MODEL_M = 5.0
_threads = {"held": 0, "saved": None}
_threads_lock = threading.Lock()


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """torch's intra-op threads set to ``n`` inside the block (None: unchanged), restored after it.

    torch keeps the count per thread: the block sets it for the calling thread and for every thread that
    starts computing inside it (torch reads the process-wide value at a thread's first operation) — the
    training stream starts its loop's thread there. Threads already computing keep theirs; a thread that
    first computes inside the block keeps one thread afterwards (the app trains one job at a time on a
    CPU, so this is the odd request thread). Overlapping blocks share the setting; the last one out
    restores what was there."""
    if not n:
        yield
        return
    import torch

    with _threads_lock:
        if _threads["held"] == 0:
            _threads["saved"] = torch.get_num_threads()
            torch.set_num_threads(int(n))
        _threads["held"] += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads["held"] -= 1
            if _threads["held"] == 0 and _threads["saved"]:
                torch.set_num_threads(_threads["saved"])


def training_threads(model: str, settings: Settings | None = None) -> int | None:
    """The CPU threads a training job on ``model`` should use: 1 on the CPU for a demo model (tiny by
    construction) or a model whose known parameter count is under :data:`SMALL_MODEL_M` million, else
    None (torch's default)."""
    from tlweb.engine.listing import resolve
    from tlweb.engine.loading import pick_device
    from tlweb.errors import TlwebError

    settings = settings or get_settings()
    try:
        if pick_device(settings) != "cpu":
            return None
        spec = resolve(model, settings=settings)
    except TlwebError:
        return None
    small = spec.source == "demo" or (spec.params_m is not None and float(spec.params_m) < SMALL_MODEL_M)
    return 1 if small else None


class Normalizer:
    """uint8 [B,3,H,W] → the float tensor the model's processor would have produced."""

    def __init__(self, processor, device):
        import torch

        proc = getattr(processor, "image_processor", processor)
        scale = torch.ones(3, dtype=torch.float64)
        shift = torch.zeros(3, dtype=torch.float64)
        if getattr(proc, "do_rescale", True):
            f = float(getattr(proc, "rescale_factor", 1 / 255) or 1 / 255)
            scale *= f
            if getattr(proc, "rescale_offset", False):
                shift -= 1.0
        std_t = None
        if getattr(proc, "do_normalize", False):
            mean = _triple(getattr(proc, "image_mean", None), 0.0)
            std = _triple(getattr(proc, "image_std", None), 1.0)
            mean_t = torch.tensor(mean, dtype=torch.float64)
            std_t = torch.tensor(std, dtype=torch.float64)
            scale = scale / std_t
            shift = (shift - mean_t) / std_t
        if getattr(proc, "include_top", False):  # EfficientNet divides by std once more
            std2 = torch.tensor(_triple(getattr(proc, "image_std", None), 1.0), dtype=torch.float64)
            scale = scale / std2
            shift = shift / std2
        self.scale = scale.float().view(1, 3, 1, 1).to(device)
        self.shift = shift.float().view(1, 3, 1, 1).to(device)

    def __call__(self, x):
        return x.float() * self.scale + self.shift


def _triple(v, default: float) -> list[float]:
    if v is None:
        return [default] * 3
    if isinstance(v, (int, float)):
        return [float(v)] * 3
    v = [float(a) for a in v]
    return v * 3 if len(v) == 1 else v[:3]


def crop_flip_theta(b: int, device, generator=None, flip: bool = True, scale=(0.7, 1.0), ratio=(3 / 4, 4 / 3),
                    dtype=None):
    """The affine maps [B, 2, 3] of :func:`augment` (random horizontal flip + random resized crop) in
    ``affine_grid``'s normalised coordinates: an output point (x, y) samples the input at
    ``theta @ (x, y, 1)``. Segmentation warps its masks with the same maps (:func:`warp`, nearest);
    detection moves its boxes by inverting them (x_out = (x_in - theta[:, 0, 2]) / theta[:, 0, 0])."""
    import math

    import torch

    area = torch.empty(b, device=device).uniform_(scale[0], scale[1], generator=generator)
    log_r = torch.empty(b, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    r = torch.exp(log_r)
    sw = torch.sqrt(area * r).clamp(max=1.0)  # crop width / full width
    sh = torch.sqrt(area / r).clamp(max=1.0)
    tx = (torch.rand(b, device=device, generator=generator) * 2 - 1) * (1 - sw)
    ty = (torch.rand(b, device=device, generator=generator) * 2 - 1) * (1 - sh)
    sign = torch.ones(b, device=device)
    if flip:
        sign = torch.where(torch.rand(b, device=device, generator=generator) < 0.5, -sign, sign)
    theta = torch.zeros(b, 2, 3, device=device, dtype=dtype or torch.float32)
    theta[:, 0, 0] = sw * sign
    theta[:, 0, 2] = tx
    theta[:, 1, 1] = sh
    theta[:, 1, 2] = ty
    return theta


def warp(x, theta, mode: str = "bilinear", padding_mode: str = "border"):
    """``x`` [B, C, H, W] (float) resampled through ``theta`` (:func:`crop_flip_theta`); masks: ``mode="nearest"``."""
    import torch.nn.functional as F

    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=False)


def augment(x, generator=None, flip: bool = True, scale=(0.7, 1.0), ratio=(3 / 4, 4 / 3)):
    """Random horizontal flip + random resized crop, batched on the device (x: float [B,C,H,W])."""
    return warp(x, crop_flip_theta(x.shape[0], x.device, generator, flip, scale, ratio, dtype=x.dtype))
