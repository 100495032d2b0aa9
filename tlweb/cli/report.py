"""``report``: one self-contained HTML report of a fine-tune run (or of several: a strategy ladder)."""

from __future__ import annotations

from tlweb.cli.common import print_json


def add_report(sub) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report of a run (several runs: a ladder)")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folder(s) or run id(s)")
    p.add_argument("--out", help="the .html file to write (default: RUN_DIR/report.html; several runs: "
                                 "ladder-report.html here)")
    p.add_argument("--title", help="title of a ladder report")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from pathlib import Path

    from tlweb.config import get_settings
    from tlweb.viz.report import write_report
    from tlweb.viz.report_training import ladder_report_html, run_folder, run_report_html

    settings = get_settings()
    folders = [run_folder(r, settings) for r in args.runs]
    if len(folders) == 1:
        markup = run_report_html(folders[0], settings)
        out = Path(args.out) if args.out else folders[0] / "report.html"
    else:
        markup = ladder_report_html(folders, settings, title=args.title or "Strategy ladder")
        out = Path(args.out or "ladder-report.html")
    path = write_report(markup, out)
    if args.json:
        print_json({"report": str(path.resolve()), "bytes": path.stat().st_size, "runs": [str(f) for f in folders]})
    else:
        print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB, opens without a network)")
    return 0


COMMANDS = [add_report]
