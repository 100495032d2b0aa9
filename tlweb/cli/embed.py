"""``embed``: a dataset's embeddings in 2-D, written as a self-contained projector page."""

from __future__ import annotations

import sys
from pathlib import Path

from tlweb.cli.common import _common_flags, _data_command, _load, _settings_from, print_json
from tlweb.errors import DataError


def add_embed(sub) -> None:
    p = _data_command(sub, "embed", cmd_embed,
                      help="project a dataset's embeddings to 2-D (PCA or t-SNE) into an HTML page",
                      description="Embed every image with a backbone (features cached), measure k-NN accuracy and "
                                  "silhouette, and write an interactive projector page.",
                      model_help="catalog key, Hub id or local folder")
    p.add_argument("--random-weights", action="store_true",
                   help="the same architecture with random weights (what the pretraining is worth)")
    p.add_argument("--method", choices=("pca", "tsne"), default="pca", help="projection (default pca)")
    p.add_argument("--max-points", type=int, default=5000, help="points drawn (a per-class sample beyond it)")
    p.add_argument("--svg", action="store_true", help="SVG points instead of WebGL (for browsers without WebGL)")
    p.add_argument("--out", required=True, help="the HTML file to write (self-contained, works offline)")
    _common_flags(p, "demo-resnet-shapes")


def cmd_embed(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.embeddings import embed
    from tlweb.viz.embeddings import projector_html

    out = Path(args.out).expanduser()
    if out.is_dir():
        raise DataError(f"'{args.out}' is a folder; give a file name such as projector.html.")
    if args.max_points < 2:
        raise DataError("--max-points must be at least 2.")
    data = _load(args, settings)
    last = [None]

    def progress(message, fraction):
        if message != last[0]:
            print(message, file=sys.stderr, flush=True)
            last[0] = message

    proj = embed(data, args.model, random_weights=args.random_weights, method=args.method,
                 max_points=args.max_points, seed=args.seed, settings=settings, on_progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(projector_html([proj], webgl=not args.svg, title=f"tlweb projector · {proj.title()}"),
                   encoding="utf-8")
    summary = proj.as_dict()
    summary.update({"out": str(out), "data": args.data, "model": args.model})
    if args.json:
        print_json(summary)
    else:
        sil = "n/a" if summary["silhouette"] is None else f"{summary['silhouette']:.3f}"
        print(f"{proj.title()}: {proj.points} points · k-NN accuracy {proj.knn_accuracy * 100:.1f}% "
              f"(k={proj.knn.get('k')}) · silhouette {sil}")
        print(f"projector: {out}")
    return 0


COMMANDS = [add_embed]
