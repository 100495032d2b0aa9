"""``space``: write a Hugging Face Space folder that deploys as is."""

from __future__ import annotations

from tlweb.cli.common import print_json


def add_space(sub) -> None:
    p = sub.add_parser("space", help="write a complete Hugging Face Space folder (README, app.py, requirements, tlweb)")
    p.add_argument("out_dir", nargs="?", help="the folder to write (new, or an earlier build with --force)")
    p.add_argument("--force", action="store_true", help="rebuild a folder that holds an earlier Space build")
    p.add_argument("--hardware", default="zero-a10g", choices=("zero-a10g", "cpu-basic"),
                   help="suggested_hardware in the README (default zero-a10g, i.e. ZeroGPU)")
    p.add_argument("--files-only", action="store_true",
                   help="write only README.md, app.py and requirements.txt (how the repository's spaces/ is made)")
    p.add_argument("--gpu-tasks", action="store_true", help="list the ZeroGPU functions and their duration rules")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=cmd_space)


def cmd_space(args) -> int:
    from tlweb.errors import TlwebError

    if args.gpu_tasks:
        from tlweb.engine.zerogpu import describe

        rows = describe()
        if args.json:
            print_json(rows)
        else:
            for row in rows:
                print(f"{row['name']}\n    duration: {row['rule']}")
        return 0
    if not args.out_dir:
        raise TlwebError("Give the folder to write the Space into, e.g. python -m tlweb space ./tlweb-space")
    from tlweb.space import build_space, write_files

    if args.files_only:
        paths = write_files(args.out_dir, hardware=args.hardware)
        print_json({"files": [str(p) for p in paths]}) if args.json else print("\n".join(str(p) for p in paths))
        return 0
    built = build_space(args.out_dir, force=args.force, hardware=args.hardware)
    if args.json:
        print_json(built.as_dict())
        return 0
    print(f"Space folder: {built.folder}\n  {built.files} files, {built.bytes / 1e6:.1f} MB; gradio sdk_version "
          f"{built.sdk_version}; {len(built.examples)} example photos in tlweb/assets/examples\n"
          f"Push it (after `hf auth login`):\n"
          f"  hf repos create your-name/tlweb --type space --space-sdk gradio --exist-ok\n"
          f"  hf upload your-name/tlweb {built.folder} . --type space --commit-message \"Deploy tlweb\"\n"
          f"Then check it: python -m tlweb selfcheck --url https://your-name-tlweb.hf.space")
    return 0


COMMANDS = [add_space]
