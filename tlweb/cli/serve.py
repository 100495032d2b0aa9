"""``serve``: start the web app."""

from __future__ import annotations

from tlweb.cli.common import _settings_from
from tlweb.config import set_settings
from tlweb.errors import TlwebError


def add_serve(sub) -> None:
    p = sub.add_parser("serve", help="start the web app (same as python app.py)")
    p.add_argument("--demo", action="store_true", help="list tiny random-weight demo models (no downloads)")
    p.add_argument("--port", type=int, help="port (default 7860 or TLWEB_PORT)")
    p.add_argument("--host", help="interface (default 127.0.0.1; 0.0.0.0 to share on a network, which serves "
                                  "in shared mode)")
    p.add_argument("--shared", action="store_true",
                   help="shared mode even on 127.0.0.1 (behind a proxy): clients may name only list models, Hub ids, "
                        "demo models and their own runs and uploads, never server paths (also TLWEB_SHARED=1)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--no-demo-fallback", action="store_true",
                   help="don't add demo models when the Hugging Face Hub is unreachable")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    settings = _settings_from(args, serving=True)
    from tlweb.ui.app import launch

    if not settings.demo and not args.no_demo_fallback:
        from tlweb.engine.availability import hub_reachable

        if not hub_reachable(settings=settings):
            print("tlweb: the Hugging Face Hub is unreachable, so tiny random-weight demo models are listed too "
                  "(cached and local models still work).", flush=True)
            settings = set_settings(settings.replace(demo=True))

    print(f"tlweb: starting on http://{settings.host}:{settings.port}" + (" (demo models)" if settings.demo else "")
          + (" in shared mode: clients never name server paths" if settings.shared else ""), flush=True)
    try:
        launch(settings)
    except OSError as exc:  # the port is taken (gradio: "Cannot find empty port …"), the host is not ours …
        if "port" in str(exc).lower() or getattr(exc, "errno", None) in (98, 48, 99, 49, 13):
            raise TlwebError(f"Cannot serve on {settings.host}:{settings.port}: the port is in use or the address "
                             "is not this machine's; pick another with --port (or --host).") from None
        raise
    return 0


COMMANDS = [add_serve]
