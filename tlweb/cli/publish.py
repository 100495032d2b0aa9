"""``export`` and ``push``: a fine-tuned run's model as a folder that loads with a plain ``pipeline``, or on
the Hugging Face Hub (with its model card, from the usual Hugging Face login)."""

from __future__ import annotations

from tlweb.cli.common import _settings_from, print_json


def add_export(sub) -> None:
    p = sub.add_parser("export", help="copy a run's model with its model card into a folder a plain pipeline loads",
                       description="The folder holds the model (safetensors), its config with the class names, its "
                                   "image processor and a model card (README.md with its pictures): "
                                   "transformers.pipeline(task, model=DIR) loads it, no tlweb needed.")
    p.add_argument("run", metavar="RUN", help="run id (see `runs ls`)")
    p.add_argument("--out", required=True, help="the folder to write (new, or empty)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=cmd_export)


def add_push(sub) -> None:
    p = sub.add_parser("push", help="upload a run's model with its model card to the Hugging Face Hub",
                       description="Uses the token of the usual Hugging Face login (`hf auth login`, or HF_TOKEN). "
                                   "The repository is created when it does not exist; one commit holds the model, "
                                   "its processor and its model card.")
    p.add_argument("run", metavar="RUN", help="run id (see `runs ls`)")
    p.add_argument("--repo", required=True, help="the Hub repository, your-name/model-name (or an organisation's)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=cmd_push)


def cmd_export(args) -> int:
    from tlweb.engine.publish import export_run

    done = export_run(args.run, args.out, _settings_from(args))
    if args.json:
        print_json(done)
    else:
        print(f"exported {done['run_id']} to {done['out']} ({len(done['files'])} files)\n"
              f"  from transformers import pipeline; pipeline({done['task']!r}, model={done['out']!r})")
    return 0


def cmd_push(args) -> int:
    from tlweb.engine.publish import push_run, user_token

    url = push_run(args.run, args.repo, user_token(), private=args.private, settings=_settings_from(args))
    if args.json:
        print_json({"run_id": args.run, "repo": args.repo, "url": url, "private": bool(args.private)})
    else:
        print(f"pushed {args.run} to {url}")
    return 0


COMMANDS = [add_export, add_push]
