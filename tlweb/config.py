"""Settings: read once from the environment (and CLI flags), then passed around.

Environment variables (all optional):

- ``TLWEB_HOME``: where demo models, runs and caches live (default ``~/.cache/tlweb``).
- ``TLWEB_DEMO=1``: list tiny random-weight demo models (zero downloads).
- ``TLWEB_DEVICE``: ``auto`` (default), ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
- ``TLWEB_DTYPE``: ``auto`` (default: bf16 on CUDA when supported, else fp32), ``float32``,
  ``bfloat16``, ``float16``.
- ``TLWEB_MAX_UPLOAD_MB``, ``TLWEB_MAX_PIXELS``, ``TLWEB_MAX_IMAGES``,
  ``TLWEB_MODEL_BUDGET_MB``, ``TLWEB_MAX_EPOCHS_CPU``.
- ``TLWEB_ALLOW_PICKLE=1``: allow pickle-only (``.bin``) checkpoints from user-typed ids.
- ``TLWEB_HUB_TIMEOUT``: seconds for the Hub reachability check (default 3).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _env_number(name: str, default, kind):
    """The variable as ``kind`` (int or float); ``default`` when unset or not a number."""
    raw = os.environ.get(name)
    try:
        return kind(raw) if raw else default
    except ValueError:
        return default


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


def _default_home() -> Path:
    raw = os.environ.get("TLWEB_HOME")
    if raw:
        return Path(raw).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tlweb"


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=_default_home)
    demo: bool = False
    device: str = "auto"
    dtype: str = "auto"
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = 25
    # 8000 x 8000 must fit (segmentation/detection of huge photos); beyond is refused.
    max_pixels: int = 70_000_000
    max_images: int = 64
    model_budget_mb: int = 6_000
    max_epochs_cpu: int = 20
    allow_pickle: bool = False
    hub_timeout_s: float = 3.0

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo-models"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            home=_default_home(),
            demo=_env_bool("TLWEB_DEMO"),
            device=os.environ.get("TLWEB_DEVICE", "auto") or "auto",
            dtype=os.environ.get("TLWEB_DTYPE", "auto") or "auto",
            host=os.environ.get("TLWEB_HOST", "127.0.0.1") or "127.0.0.1",
            port=_env_int("TLWEB_PORT", _env_int("GRADIO_SERVER_PORT", 7860)),
            max_upload_mb=_env_int("TLWEB_MAX_UPLOAD_MB", 25),
            max_pixels=_env_int("TLWEB_MAX_PIXELS", 70_000_000),
            max_images=_env_int("TLWEB_MAX_IMAGES", 64),
            model_budget_mb=_env_int("TLWEB_MODEL_BUDGET_MB", 6_000),
            max_epochs_cpu=_env_int("TLWEB_MAX_EPOCHS_CPU", 20),
            allow_pickle=_env_bool("TLWEB_ALLOW_PICKLE"),
            hub_timeout_s=_env_float("TLWEB_HUB_TIMEOUT", 3.0),
        )


_SETTINGS: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = Settings.from_env()
    return _SETTINGS


def set_settings(settings: Settings) -> Settings:
    """Install settings for this process (CLI flags, app start, tests)."""
    global _SETTINGS
    _SETTINGS = settings
    return settings
