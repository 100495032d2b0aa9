"""Settings: read once from the environment (and CLI flags), then passed around.

Environment variables (all optional):

- ``TLWEB_HOME``: where demo models, runs and caches live (default ``~/.cache/tlweb``).
- ``TLWEB_DEMO=1``: list tiny random-weight demo models (zero downloads).
- ``TLWEB_DEVICE``: ``auto`` (default), ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
- ``TLWEB_DTYPE``: ``auto`` (default: bf16 on CUDA when supported, else fp32), ``float32``,
  ``bfloat16``, ``float16``.
- ``TLWEB_MAX_UPLOAD_MB``, ``TLWEB_MAX_PIXELS``, ``TLWEB_MAX_IMAGES``,
  ``TLWEB_MODEL_BUDGET_MB``, ``TLWEB_MAX_EPOCHS_CPU``.
- ``TLWEB_ALLOW_PICKLE=1``: allow pickle (``.bin``) weights, which can run code when loaded, from
  anything but the curated catalog (folders, typed Hub ids).
- ``TLWEB_HUB_TIMEOUT``: seconds for the Hub reachability check (default 3).
- ``TLWEB_SHARED=1``: serve in shared mode (see below) even on 127.0.0.1.
- ``TLWEB_HOME_BUDGET_MB``: size budget of ``TLWEB_HOME``; caches (unpacked zips, decoded tensors,
  features, Hub downloads made for clients) are cleaned least-recently-used first to stay under
  it; runs are never deleted without asking (default 20000).
- ``TLWEB_MAX_UNZIPPED_MB``: bytes one zip may unpack to, all entries together (default 4096).
- ``TLWEB_SESSION_DISK_MB``: bytes one browser session may unpack from zips (default 2048).
- ``TLWEB_MAX_DOWNLOAD_MB``: in shared mode, the largest Hub download (model or dataset) a client
  may trigger (default 2048; the home budget applies too).
- ``TLWEB_MAX_DECODED_MB``: bytes one image may decode to, width × height × bands × bytes per
  sample from its header, before any pixel is decoded (default 256: an 8000 × 8000 RGBA photo).
- ``TLWEB_DECODE_BUDGET_MB``: bytes all image decodes in flight may hold at once; a decode waits for
  room (default 1024).
- ``TLWEB_RUN_TTL_HOURS``: in shared mode, how long the runs of a browser session are kept after the
  session ends (default 24); then the cleaner removes them.
- ``TLWEB_SHARE_CLI_RUNS=1``: in shared mode, runs made from the command line are listed for every
  client, read-only (by default a client sees only the runs its own browser session made).

Serving mode (:attr:`Settings.mode`): ``local`` for one person on their own machine (the default,
``--host 127.0.0.1``): typed local folders are accepted. ``shared`` when the host is not a
loopback address, ``SPACE_ID`` is set (Hugging Face Spaces), ``--shared`` or ``TLWEB_SHARED=1``:
clients may name only catalog models, Hub ids, demo models and their own runs and uploads.
See docs/security.md.
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


LOCAL, SHARED = "local", "shared"


def is_loopback(host: str | None) -> bool:
    """True for addresses only this machine can reach (127.x.x.x, ::1, localhost)."""
    import ipaddress

    host = (host or "").strip().strip("[]").lower()
    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serving_mode(host: str | None, shared: bool = False) -> str:
    """``shared`` when asked for (flag or ``TLWEB_SHARED``), on Spaces (``SPACE_ID``) or on a host
    other clients can reach; else ``local``."""
    if shared or _env_bool("TLWEB_SHARED") or os.environ.get("SPACE_ID"):
        return SHARED
    return LOCAL if is_loopback(host) else SHARED


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
    mode: str = LOCAL  # LOCAL | SHARED (see serving_mode)
    home_budget_mb: int = 20_000
    max_unzipped_mb: int = 4_096
    session_disk_mb: int = 2_048
    max_download_mb: int = 2_048
    share_cli_runs: bool = False
    max_decoded_mb: int = 256
    decode_budget_mb: int = 1_024
    run_ttl_hours: float = 24.0

    @property
    def shared(self) -> bool:
        """Several people use this server: clients never name server paths."""
        return self.mode == SHARED

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
        """A copy with ``changes``. A new ``host`` can only make the mode stricter: a copy of shared
        settings stays shared on 127.0.0.1, a reachable host makes local settings shared."""
        if "host" in changes and "mode" not in changes and serving_mode(changes["host"]) == SHARED:
            changes["mode"] = SHARED
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls) -> Settings:
        host = os.environ.get("TLWEB_HOST", "127.0.0.1") or "127.0.0.1"
        return cls(
            home=_default_home(),
            demo=_env_bool("TLWEB_DEMO"),
            device=os.environ.get("TLWEB_DEVICE", "auto") or "auto",
            dtype=os.environ.get("TLWEB_DTYPE", "auto") or "auto",
            host=host,
            port=_env_int("TLWEB_PORT", _env_int("GRADIO_SERVER_PORT", 7860)),
            max_upload_mb=_env_int("TLWEB_MAX_UPLOAD_MB", 25),
            max_pixels=_env_int("TLWEB_MAX_PIXELS", 70_000_000),
            max_images=_env_int("TLWEB_MAX_IMAGES", 64),
            model_budget_mb=_env_int("TLWEB_MODEL_BUDGET_MB", 6_000),
            max_epochs_cpu=_env_int("TLWEB_MAX_EPOCHS_CPU", 20),
            allow_pickle=_env_bool("TLWEB_ALLOW_PICKLE"),
            hub_timeout_s=_env_float("TLWEB_HUB_TIMEOUT", 3.0),
            mode=serving_mode(host),
            home_budget_mb=_env_int("TLWEB_HOME_BUDGET_MB", 20_000),
            max_unzipped_mb=_env_int("TLWEB_MAX_UNZIPPED_MB", 4_096),
            session_disk_mb=_env_int("TLWEB_SESSION_DISK_MB", 2_048),
            max_download_mb=_env_int("TLWEB_MAX_DOWNLOAD_MB", 2_048),
            share_cli_runs=_env_bool("TLWEB_SHARE_CLI_RUNS"),
            max_decoded_mb=_env_int("TLWEB_MAX_DECODED_MB", 256),
            decode_budget_mb=_env_int("TLWEB_DECODE_BUDGET_MB", 1_024),
            run_ttl_hours=_env_float("TLWEB_RUN_TTL_HOURS", 24.0),
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
