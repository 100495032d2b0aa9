"""``segment`` and ``detect``."""

from __future__ import annotations

from tlweb.cli.common import _image_command, _print_result_json, _settings_from


def add_segment(sub) -> None:
    p = _image_command(sub, "segment", "segment an image: a class for every pixel, with each class's share",
                       "catalog key, Hub id or local folder (SegFormer, Mask2Former, UperNet …)", cmd_segment,
                       "demo-segformer")
    p.add_argument("--out", help="write the label map here as a PNG (pixel value = class id, coloured palette)")
    p.add_argument("--overlay", help="write the colour mask blended on the photo here (PNG/JPEG)")


def cmd_segment(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.images import load_image
    from tlweb.engine.inference import task
    from tlweb.engine.segment import save_mask
    from tlweb.registry import SEGMENTATION

    img = load_image(args.image, settings)
    result = task(SEGMENTATION).run(img, args.model, settings=settings)
    if args.out or args.overlay:
        from tlweb.viz.segment import color_list, overlay  # PIL only (no plotly)

        colors = color_list(max(result.class_names, default=0) + 1)
        if args.out:
            save_mask(result, args.out, colors)
        if args.overlay:
            present = {c.id: colors[c.id] for c in result.classes}
            overlay(img, result.label_map, present, 0.55, max_side=max(img.size)).save(args.overlay)
    if args.json:
        _print_result_json(result, args, **({"mask": args.out} if args.out else {}))
    else:
        print(f"{args.model} on {result.device} · {result.width}×{result.height} px · {result.latency_ms:.1f} ms")
        for c in result.classes[:15]:
            print(f"  {c.share * 100:6.2f}%  {c.name}")
        if len(result.classes) > 15:
            print(f"  … and {len(result.classes) - 15} more classes")
        if args.out:
            print(f"label map: {args.out}")
    return 0


def add_detect(sub) -> None:
    p = _image_command(sub, "detect", "detect objects: boxes with labels and scores (zero-shot with --queries)",
                       "catalog key, Hub id or local folder (DETR, YOLOS, RT-DETR, OWLv2 …)", cmd_detect, "demo-detr")
    p.add_argument("--queries", help="comma-separated text for zero-shot models, e.g. \"cat,dog\"")
    p.add_argument("--threshold", type=float, help="keep boxes scoring at least this (default 0.5; zero-shot 0.1)")
    p.add_argument("--out", help="write the image with the boxes drawn here (PNG/JPEG)")


def cmd_detect(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.images import load_image
    from tlweb.engine.inference import task
    from tlweb.registry import DETECTION

    img = load_image(args.image, settings)
    # one runner serves closed-set and zero-shot detectors (it tells them apart by the model)
    result = task(DETECTION).run(img, args.model, settings=settings, queries=args.queries, threshold=args.threshold)
    if args.out:
        from tlweb.viz.detect import draw_boxes  # PIL only (no plotly)

        draw_boxes(img, result.kept(), max_side=max(img.size)).save(args.out)
    if args.json:
        _print_result_json(result, args)
    else:
        kept = result.kept()
        print(f"{args.model} on {result.device} · {result.width}×{result.height} px · {result.latency_ms:.1f} ms · "
              f"{len(kept)} boxes with score ≥ {result.threshold:g}")
        for b in kept[:50]:
            x0, y0, x1, y1 = b.xyxy
            print(f"  {b.score:5.3f}  {b.label:24s} ({x0:.0f}, {y0:.0f}) – ({x1:.0f}, {y1:.0f})")
    return 0


COMMANDS = [add_segment, add_detect]
