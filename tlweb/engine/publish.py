"""A run's model leaves the app: :func:`export_zip` zips its model folder (the Fine-tune tab's download),
:func:`export_run` writes a folder that loads with a plain ``pipeline``
(``tlweb export RUN --out DIR``), :func:`push_run` uploads it to the Hugging Face Hub as one commit
(``tlweb push RUN --repo user/name``, the Fine-tune tab's Push button).

The folder and the push carry the model card (:mod:`tlweb.engine.train.card`): a run made before cards existed gets one
written from its folder; a push names the repository in the card's usage snippet. A push takes a token
for that call only — the signed-in visitor's OAuth token on a Space, a pasted one, or the usual
Hugging Face login on the command line — never written to disk, to a log or into a message; in shared
mode it may only push the visitor's own runs, and with sign-in only into the namespaces the visitor may
write to (their own, an organisation where they may write).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from tlweb import access
from tlweb.config import Settings, get_settings
from tlweb.engine import owners
from tlweb.engine.runs import run_path
from tlweb.engine.train.card import CARD_FILE
from tlweb.engine.train.card_body import write_card
from tlweb.errors import DataError, ModelError, clip, first_line

CARD_PICTURES = ("curves.png", "confusion_matrix.png")  # + per_class_*.png: written with the card


def _model_dir(run_id: str, settings: Settings, what: str) -> tuple[Path, Path]:
    """(run folder, model folder) of a run the current client may see, with a saved model."""
    path = run_path(run_id, settings)
    model_dir = path / "model"
    if not (model_dir / "config.json").is_file():
        raise DataError(f"The run '{clip(run_id)}' has no saved model to {what} (it failed or is still running).")
    return path, model_dir


def _is_card_file(p: Path) -> bool:
    return p.name == CARD_FILE or p.name in CARD_PICTURES or (p.name.startswith("per_class_") and p.suffix == ".png")


def model_files(model_dir: Path) -> list[Path]:
    """The model's own files (weights, config, processor), without the card and its pictures."""
    return sorted(p for p in Path(model_dir).rglob("*") if p.is_file() and not _is_card_file(p))


# --------------------------------------------------------------------------- export


def export_run(run_id: str, out, settings: Settings | None = None) -> dict:
    """Copy the run's model into a new folder ``out`` with its model card (written afresh): what
    ``pipeline(task, model=out)`` loads. Returns {run_id, out, files, task}. Command line only: ``out`` is
    a folder on this machine, refused when it exists and is not empty."""
    settings = settings or get_settings()
    run_dir, model_dir = _model_dir(run_id, settings, "export")
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"'{clip(str(out))}' exists and is not an empty folder; pick a new one.")
    out.mkdir(parents=True, exist_ok=True)
    for p in model_files(model_dir):
        dst = out / p.relative_to(model_dir)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst)
    write_card(run_dir, out_dir=out)
    import json

    task = (json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("tlweb") or {}).get("task")
    return {"run_id": run_dir.name, "out": str(out), "files": sorted(p.name for p in out.iterdir()), "task": task}


# --------------------------------------------------------------------------- push


def check_repo_id(repo_id, namespaces=None) -> str:
    """``owner/name`` as the Hub takes it; with ``namespaces`` (a signed-in visitor's: their user name and
    the organisations they may write to) the owner must be one of them."""
    repo_id = str(repo_id or "").strip()
    if "/" not in repo_id or not access.is_hub_id(repo_id):
        raise ModelError("Give the Hub repository as 'your-name/model-name'.")
    if namespaces is not None:
        allowed = [n for n in namespaces if n]
        owner = repo_id.split("/", 1)[0]
        if owner not in allowed:
            raise ModelError(f"You can push to {' or '.join(f'{n}/…' for n in allowed) or 'your own namespace'}, "
                             f"not to '{clip(owner)}/…'.")
    return repo_id


def user_token() -> str | None:
    """The token of the usual Hugging Face login (``hf auth login`` or ``HF_TOKEN``), if any."""
    from huggingface_hub import get_token

    return get_token()


def push_run(run_id: str, repo_id: str, token: str | None = None, private: bool = True,
             settings: Settings | None = None, namespaces=None) -> str:
    """Upload the run's model with its card to ``repo_id`` (created when missing) in one commit; returns
    the model page's URL. ``token``: the caller's (None on the command line: the usual login).
    ``namespaces``: where the caller may push (a signed-in visitor's; None: the Hub decides)."""
    settings = settings or get_settings()
    owners.writable_or_refuse(run_path(run_id, settings), settings)  # shared mode: the visitor's own runs
    run_dir, model_dir = _model_dir(run_id, settings, "push")
    repo_id = check_repo_id(repo_id, namespaces)
    token = str(token or "").strip()
    if not token:
        raise ModelError("A Hugging Face access token with write permission is needed to push: sign in, or log in "
                         "on this machine with `hf auth login` (or set HF_TOKEN).")
    from tlweb.engine.availability import hub_reachable

    if not hub_reachable(settings=settings):
        raise ModelError("The Hugging Face Hub cannot be reached from this machine, so the model cannot be pushed.")
    try:
        return _upload(run_dir, model_dir, repo_id, token, private)
    except Exception as exc:  # noqa: BLE001 - one sentence, the token scrubbed before anything is cut
        text = first_line(exc, None).replace(token, "***")[:200]
        if any(code in text for code in ("401", "403", "Unauthorized", "Forbidden")):
            raise ModelError(f"The Hub refused to let this account write to '{clip(repo_id)}' (the token needs write "
                             "permission there).") from None
        raise ModelError(f"Pushing to '{clip(repo_id)}' failed: {text}") from None


def _upload(run_dir: Path, model_dir: Path, repo_id: str, token: str, private: bool) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    with tempfile.TemporaryDirectory(prefix="tlweb-card-") as tmp:
        write_card(run_dir, out_dir=Path(tmp), repo_id=repo_id)  # the card names the repository
        card_files = sorted(p for p in Path(tmp).iterdir() if p.is_file())
        ops = [CommitOperationAdd(path_in_repo=p.relative_to(model_dir).as_posix(), path_or_fileobj=str(p))
               for p in model_files(model_dir)]
        ops += [CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=p.read_bytes()) for p in card_files]
        api.create_commit(repo_id, ops, commit_message=f"Upload {run_dir.name} from tlweb", repo_type="model")
    return str(getattr(url, "url", None) or url or f"https://huggingface.co/{repo_id}")


def namespaces_of(profile: dict | None) -> list[str]:
    """Where a signed-in visitor may push: their user name, then the organisations in which their role
    lets them write (``roleInOrg`` admin, write or contributor), from the OAuth profile."""
    if not profile:
        return []
    user = profile.get("preferred_username") or profile.get("username") or ""
    orgs = [o.get("preferred_username") or o.get("name") or "" for o in (profile.get("orgs") or [])
            if isinstance(o, dict) and o.get("roleInOrg") in ("admin", "write", "contributor")]
    return [n for n in [user, *orgs] if n and access.is_hub_id(n)]


def export_zip(run_id: str, settings: Settings | None = None) -> Path:
    """A zip of the run's model folder (model + processor), ready for ``from_pretrained`` once unzipped."""
    path = run_path(run_id, settings)
    model_dir = path / "model"
    if not (model_dir / "config.json").exists():
        raise DataError(f"The run '{clip(run_id)}' has no saved model (it failed or is still running).")
    out = path / f"{run_id}-model.zip"
    newest = max(p.stat().st_mtime for p in model_dir.rglob("*") if p.is_file())
    if out.exists() and out.stat().st_mtime >= newest:
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(model_dir.rglob("*")):
            if p.is_file():
                zf.write(p, arcname=f"{run_id}/{p.relative_to(model_dir).as_posix()}")
    tmp.replace(out)
    return out
