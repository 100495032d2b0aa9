"""``depth``: one image through a depth model (DPT, Depth Anything …)."""

from __future__ import annotations

from tlweb.cli.common import _image_command, _settings_from, need_image_files, print_json


def add_depth(sub) -> None:
    p = _image_command(sub, "depth", "estimate depth: how far away each pixel is, from one picture",
                       "catalog key, Hub id or local folder (DPT, Depth Anything …)", cmd_depth, "demo-dpt-scenes")
    p.add_argument("--out", help="write the colour-mapped depth picture here (PNG; near = bright), at the image's size")


def cmd_depth(args) -> int:
    from pathlib import Path

    settings = _settings_from(args)
    need_image_files(args.image)  # before any model work
    from tlweb.engine.inference import task
    from tlweb.registry import DEPTH

    result = task(DEPTH).run(args.image, args.model, settings=settings)
    out = None
    if args.out:
        from tlweb.viz.depth import depth_picture  # numpy + PIL only (no plotly)

        path = Path(args.out).expanduser().resolve()
        depth_picture(result).save(path)
        out = str(path)
    if args.json:
        print_json({"model": args.model, "width": result.width, "height": result.height,
                    "depth_min": result.depth_min, "depth_max": result.depth_max, "out": out})
    else:
        unit = f" {result.output.unit}" if result.output.unit else ""
        print(f"{args.model} on {result.device} · {result.width}×{result.height} px · {result.latency_ms:.1f} ms")
        print(f"  {result.output.axis_title}: {result.depth_min:.4g} … {result.depth_max:.4g}{unit}")
        if out:
            print(f"depth picture: {out}")
    return 0


COMMANDS = [add_depth]
