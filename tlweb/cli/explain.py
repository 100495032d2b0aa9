"""``explain``: where a model looks — feature maps, attention, rollout, Grad-CAM or occlusion."""

from __future__ import annotations

from tlweb.cli.common import _image_command, _settings_from, print_json


def add_explain(sub) -> None:
    from tlweb.engine.explain import method_keys  # the methods' records (light: torch loads when one runs)

    p = _image_command(sub, "explain", "explain a classifier's decision on an image with a map",
                       "catalog key, Hub id, local folder or fine-tuned run", cmd_explain, "demo-vit-shapes")
    p.add_argument("--method", choices=method_keys(), default="gradcam", help="default: gradcam")
    p.add_argument("--layer", help="layer index (0 = nearest the pixels, -1 = last) or module name; "
                                   "default: the method's own choice")
    p.add_argument("--head", type=int, help="attention head (default: the mean of the heads)")
    p.add_argument("--target", help="class label or index to explain (default: the model's top-1)")
    p.add_argument("--random-weights", action="store_true",
                   help="sanity check: explain a random-init copy of the same architecture instead")
    p.add_argument("--opacity", type=float, default=0.5, help="of the map in --out (0-1, default 0.5)")
    p.add_argument("--out", help="write the map over the image here (PNG/JPEG, the image's own size)")


def cmd_explain(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.explain import explain
    from tlweb.engine.images import load_image

    img = load_image(args.image, settings)
    layer = args.layer
    if layer is not None and layer.strip().lstrip("-").isdigit():
        layer = int(layer)
    result = explain(img, args.model, args.method, layer=layer, head=args.head, target=args.target,
                     random_weights=args.random_weights, settings=settings)
    if args.out:
        from tlweb.viz.explain import overlay  # PIL only (no plotly)

        overlay(img, result.map, args.opacity, max_side=max(img.size)).save(args.out)
    if args.json:
        out = result.as_dict()
        out.update({"image": args.image, "model": args.model, "out": args.out})
        print_json(out)
    else:
        where = f" · {result.layer_info.label} ({result.layer_name})" if result.layer_info else ""
        print(f"{args.method} · {args.model}{where} · {result.latency_ms:.0f} ms")
        print(f"  class: {result.target}   peak: x {result.map.peak[0]}, y {result.map.peak[1]} "
              f"of {result.width}×{result.height} px")
        for p in result.predictions[:3]:
            print(f"  {p.score * 100:6.2f}%  {p.label}")
        for note in result.notes:
            print(f"  note: {note}")
        if args.out:
            print(f"overlay: {args.out}")
    return 0


COMMANDS = [add_explain]
