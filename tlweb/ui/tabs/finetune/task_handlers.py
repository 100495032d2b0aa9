"""Handlers of the Fine-tune tab's segmentation and detection path: the task switch, the data (load and
preview), one training run with live curves, and its results (per-class IoU / AP, the worst test images,
before / after on a test image). Widget values → ``tlweb.engine`` (the task's data reader, the one training
run with ``task=``, ``segment.before_after`` / ``detect.before_after``) → :mod:`tlweb.viz.task_results`.

Classification keeps its own handlers (:mod:`.handlers`); its endpoints skip when the page's task is
another one (``FtSession.task``, set by the task switch), and these skip for classification, so the one
Start button serves both.
"""

from __future__ import annotations

import html

import gradio as gr

from tlweb.config import Settings
from tlweb.engine.accel import cpu_threads, training_threads
from tlweb.errors import DataError, TlwebError
from tlweb.ui.components import user_errors
from tlweb.ui.tabs.finetune.helpers import (
    Every,
    FtSession,
    Progress,
    Worker,
    _fmt_s,
    _paths,
    status_html,
    strategy_label,
)
from tlweb.ui.tabs.finetune.tasks import (
    CLASSIFICATION,
    DEFAULT_STRATEGY,
    DETECTION,
    SEGMENTATION,
    task_view,
)
from tlweb.viz import task_results as vr
from tlweb.viz.common import message_figure

TASK_NAMES = {SEGMENTATION: "segmentation", DETECTION: "detection"}


def _task(task) -> str:
    task = (task or SEGMENTATION).strip()
    if task not in TASK_NAMES:
        raise TlwebError(f"Pick segmentation or detection (got '{html.escape(task)[:40]}').")
    return task


def prepare_task_data(task: str, source, zip_file, hub_id, image_column, mask_column, settings: Settings):
    """Widget values → the task's data (MaskData / DetectionData), or a DataError sentence. The Hub box takes
    ids only (never a path on the server), in every mode; a zip is unpacked within budgets, then deleted."""
    source = source or "sample"
    if source == "sample":
        if task == SEGMENTATION:
            from tlweb.engine.data.scenes import segmentation_sample

            return segmentation_sample(settings)
        from tlweb.engine.data.detection import detection_sample

        return detection_sample(settings)
    if source == "zip":
        paths = _paths([zip_file] if zip_file and not isinstance(zip_file, list) else zip_file)
        if not paths:
            raise DataError("Upload a .zip first (" + ("images/, masks/ and labels.txt" if task == SEGMENTATION
                                                       else "a COCO or YOLO dataset") + ").")
        if task == SEGMENTATION:
            from tlweb.engine.data.masks import load_mask_upload

            return load_mask_upload(paths[0], settings=settings)
        from tlweb.engine.data.detection import load_detection_upload

        return load_detection_upload(paths[0], settings=settings)
    if source == "hub":
        if not hub_id or not str(hub_id).strip():
            raise DataError("Type a Hugging Face dataset id first.")
        if task == SEGMENTATION:
            from tlweb.engine.data.masks_hub import load_hub_masks

            return load_hub_masks(str(hub_id).strip(), image_column=image_column or None,
                                  mask_column=mask_column or None, settings=settings)
        from tlweb.engine.data.detection import load_hub_detection

        return load_hub_detection(str(hub_id).strip(), image_column=image_column or None, settings=settings)
    raise DataError(f"Unknown data source '{html.escape(str(source))[:40]}': pick one of the options.")


def task_data_key(task, source, zip_file, hub_id, image_column, mask_column) -> tuple:
    source = source or "sample"
    if source == "zip":
        return task, "zip", tuple(_paths([zip_file] if zip_file and not isinstance(zip_file, list) else zip_file))
    if source == "hub":
        return task, "hub", (hub_id or "").strip(), (image_column or "").strip(), (mask_column or "").strip()
    return task, "sample"


def task_notes(data) -> str:
    counts = data.counts()
    n_train, n_test = len(data.train), len(data.test)
    smallest = min(counts.get("train", {}).values() or [0])
    noun = "masks" if getattr(data, "task", "") == SEGMENTATION else "boxes"
    parts = [f"<b>{len(data.class_names)} classes</b> · {n_train:,} training images · {n_test:,} test images "
             f"(test set: {html.escape(str(data.test_from))}) · the rarest class is in {smallest} training images"]
    if getattr(data, "box_counts", None):
        boxes = sum(data.box_counts().get("train", {}).values())
        parts[0] += f" · {boxes:,} training {noun}"
    for w in list(getattr(data, "warnings", []) or [])[:6]:
        parts.append(f"⚠️ {html.escape(str(w))}")
    if data.skipped:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in data.skipped[:8])
        more = f"<li>… and {len(data.skipped) - 8} more</li>" if len(data.skipped) > 8 else ""
        parts.append(f"<div>⚠️ Skipped {len(data.skipped)} file(s):<ul>{items}{more}</ul></div>")
    return f"<div class='ft-notes'>{'<br>'.join(parts)}</div>"


class TaskHandlers:
    """The segmentation / detection handlers of one app (``base``: the tab's :class:`.handlers.Handlers`)."""

    def __init__(self, base):
        self.base = base
        self.settings: Settings = base.settings

    # ------------------------------------------------------------------ the task switch

    def switch(self, task, sess: FtSession, views):
        """The page's task: classification's sections or these; models, strategies and words of the task
        (``views``: (name of :func:`.tasks.task_view`, component) pairs; a component whose name the view
        leaves out stays as it is)."""
        sess.task = task if task in (SEGMENTATION, DETECTION) else CLASSIFICATION
        view = task_view(sess.task, self.settings)
        return {component: view[k] for k, component in views if k in view}

    @staticmethod
    def on_source(src):
        return gr.update(visible=src == "zip"), gr.update(visible=src == "hub")

    # ------------------------------------------------------------------ data

    def ensure_data(self, sess: FtSession, task, values):
        key = task_data_key(task, *values)
        if sess.task_data is None or sess.task_data_key != key:
            sess.task_data = prepare_task_data(task, *values, self.settings)
            sess.task_data_key = key
        return sess.task_data

    @user_errors
    def load(self, task, source, zip_file, hub_id, image_column, mask_column, sess: FtSession):
        from tlweb.viz import training as tv

        task = _task(task)
        data = self.ensure_data(sess, task, (source, zip_file, hub_id, image_column, mask_column))
        what = "images holding each class"
        plot = tv.class_counts_bar(data.counts(), title=f"{what.capitalize()} · {len(data.class_names)} classes")
        preview = vr.mask_preview(data, settings=self.settings) if task == SEGMENTATION \
            else vr.box_preview(data, settings=self.settings)
        return plot, task_notes(data), preview

    # ------------------------------------------------------------------ one run

    @user_errors
    def train(self, task, source, zip_file, hub_id, image_column, mask_column, model, strategy, epochs, batch_size,
              lr, per_class, sess: FtSession):
        from tlweb.engine.train import TrainConfig, iter_finetune, start_run
        from tlweb.ui.tabs.finetune.handlers import train_kwargs

        if (task or CLASSIFICATION) == CLASSIFICATION:  # the classification chain of the same Start button runs
            yield gr.skip()  # (one skip: every output stays as it is)
            return
        task = _task(task)
        if not model:
            raise TlwebError("Pick a model in step 2 first.")
        data = self.ensure_data(sess, task, (source, zip_file, hub_id, image_column, mask_column))
        cfg = TrainConfig(model=model, data=data, strategy=strategy or DEFAULT_STRATEGY[task], task=task,
                          **train_kwargs(epochs, batch_size, lr, per_class))
        cfg = start_run(cfg, self.settings)  # the run folder first: Stop writes its STOP file from now on
        sess.start(cfg.out_dir)
        worker, progress, redraw = Worker(iter_finetune(cfg, self.settings)), Progress(), Every(0.5)
        metric = "miou" if task == SEGMENTATION else "map"
        t, r, runs = self.base.tab.train, self.base.tab.tasks.results, self.base.tab.runs
        with cpu_threads(training_threads(model, self.settings)):  # a tiny model: one CPU thread
            try:
                yield {t.status: progress.html(), t.curves: vr.task_curves([], metric), r.metrics: "", r.hint: "",
                       r.per_class_plot: message_figure("Training…"), r.worst: [], r.before: None, r.after: None,
                       r.ba_note: ""}
                for batch in worker.batches():
                    if not batch:
                        continue
                    progress.add(batch)
                    update = {t.status: self._status(progress, metric)}
                    if redraw.due():
                        update[t.curves] = vr.task_curves(progress.events, metric)
                    yield update
            finally:
                worker.close()
                sess.start(None)  # nothing trains any more: Stop has nothing to stop
        result = worker.result
        sess.last_run = result.run_id
        sess.task_run = {"run_id": result.run_id, "base": model, "task": task, "index": 0}
        before, after, note = self._before_after(sess, data)
        cards, hint, bars, worst = self._results(result, data, task)
        table, pick = self.base.runs_outputs(result.run_id)
        yield {t.status: status_html(self._done_text(result), 1.0, "stopped" if result.stopped else "done"),
               t.curves: vr.task_curves(progress.events or [e.as_dict() for e in result.history], metric),
               r.metrics: cards, r.hint: hint, r.per_class_plot: bars, r.worst: worst, r.before: before, r.after: after,
               r.ba_note: note, runs.table: table, runs.run_pick: pick}

    @staticmethod
    def _status(progress: Progress, metric: str) -> str:
        """The status line; the validation metric of these tasks is val_metric (not val_accuracy)."""
        d = progress.latest
        text = progress.html()
        if d.get("val_metric") is not None and d.get("kind") != "done":
            label = vr.metric_label(metric)
            on_test = d.get("eval_split") == "test"
            extra = f" · {'test (monitoring)' if on_test else 'val'} {label} {float(d['val_metric']) * 100:.1f}%"
            text = text.replace("</b>", "</b>" + html.escape(extra), 1) if "</b>" in text else text
        return text

    def _done_text(self, result) -> str:
        label = vr.metric_label(result.metric)
        value = result.test_metric or 0.0
        return (f"<b>{'Stopped' if result.stopped else 'Done'}</b> · {strategy_label(result.strategy)} · test {label} "
                f"<b>{value * 100:.1f}%</b> on {result.test_images} test images · {_fmt_s(result.wall_s)} · details in "
                "<b>4 · Results</b>")

    def _results(self, result, data, task: str) -> tuple:
        from tlweb.catalog import RUN_LABEL_SUFFIX
        from tlweb.engine.runs import run_title

        m = dict(result.metrics)
        m.update({"test_images": result.test_images, "train_images": result.train_images,
                  "val_images": result.val_images})
        counts = data.counts().get("test", {})
        if task == SEGMENTATION:
            bars = vr.per_class_metric_bars(m.get("per_class_iou") or {}, "miou", counts=counts)
            worst = vr.seg_worst_gallery(m.get("worst") or [], list(data.class_names), result.run_dir)
        else:
            bars = vr.per_class_metric_bars(m.get("per_class_ap") or {}, "map", counts=counts,
                                            recall=m.get("per_class_ar") or None)
            worst = vr.det_worst_gallery(m.get("worst_images") or [], result.run_dir)
            from tlweb.ui.guard import serve_gallery

            worst = serve_gallery(worst)
        tab = "Segment" if task == SEGMENTATION else "Detect"
        label = run_title(result.run_dir) + RUN_LABEL_SUFFIX
        hint = (f"<div class='ft-hint'>Saved as run <code>{html.escape(result.run_id)}</code>. Its model is now in "
                f"the <b>{tab}</b> tab's list as <i>{html.escape(label)}</i>; download it or delete it in step "
                "<b>6 · Runs</b>.</div>")
        return vr.result_cards(m, task), hint, bars, worst

    # ------------------------------------------------------------------ before / after

    def _test_image(self, data, index: int):
        """(picture source, its name) of test image ``index`` (wrapping around)."""
        split = data.test
        n = len(split)
        if not n:
            raise DataError("The test split is empty.")
        i = index % n
        if data.task == SEGMENTATION:
            return split.images[i], split.names[i]
        return split[i].source, split[i].name

    def _before_after(self, sess: FtSession, data):
        """The base model and the fine-tuned one on one test image (a sentence instead when either fails)."""
        from tlweb.engine.images import load_image

        run = sess.task_run or {}
        try:
            source, name = self._test_image(data, int(run.get("index") or 0))
            img = load_image(source, self.settings, name=name)
            if run["task"] == SEGMENTATION:
                from tlweb.engine.segment import before_after

                b, a = before_after(img, run["base"], run["run_id"], self.settings)
                # the run's classes in their order (their colours in the previews and worst images), then the base's
                tuned = [a.class_names[i] for i in sorted(a.class_names)]
                names = tuned + sorted(set(b.class_names.values()) - set(tuned))
                return (vr.segment_picture(img, b, names), vr.segment_picture(img, a, names),
                        f"<div class='ft-notes'><b>{html.escape(name)}</b> · before (the base model, its own classes): "
                        f"{vr.classes_line(b, names=names)}<br>after (fine-tuned): {vr.classes_line(a, names=names)}</div>")
            from tlweb.engine.detect import before_after

            b, a = before_after(img, run["base"], run["run_id"], settings=self.settings)
            return (vr.detection_picture(img, b), vr.detection_picture(img, a),
                    f"<div class='ft-notes'><b>{html.escape(name)}</b> · before: {vr.boxes_line(b)} (the base model's "
                    f"own classes) · after: {vr.boxes_line(a)} · score ≥ {a.threshold:.2f}</div>")
        except TlwebError as exc:
            return None, None, f"<div class='ft-notes'>⚠️ Before / after could not run: {html.escape(str(exc))}</div>"

    @user_errors
    def next_before_after(self, sess: FtSession):
        if not sess.task_run or sess.task_data is None:
            raise TlwebError("Train a segmentation or detection model first (step 3).")
        sess.task_run["index"] = int(sess.task_run.get("index") or 0) + 1
        return self._before_after(sess, sess.task_data)
