"""The Fine-tune tab's handlers: widget values → ``tlweb.engine.data`` / ``train`` / ``runs`` →
``tlweb.viz.training``. A training handler creates the run (or experiment) folder, then drains the
engine's stream (:func:`tlweb.engine.train.iter_finetune`, ``iter_ladder``, ``iter_efficiency``: a
generator whose GPU part runs in this process, or in a ZeroGPU worker, the same code either way)
and yields figures, so curves move while the model trains. Stop writes the STOP file of that
folder, which the training loop checks between steps wherever it runs."""

from __future__ import annotations

import html
import time

import gradio as gr

from tlweb.config import Settings
from tlweb.engine.accel import cpu_threads, training_threads
from tlweb.errors import DataError, TlwebError
from tlweb.ui.components import for_session, user_errors
from tlweb.ui.guard import serve_file, serve_gallery
from tlweb.ui.tabs.finetune.helpers import (
    N_SLOTS,
    SHOTS,
    Every,
    FtSession,
    Progress,
    Worker,
    _chance,
    _fmt_s,
    _paths,
    data_key,
    data_notes,
    job_story,
    parse_auto,
    prepare_data,
    status_html,
    strategy_label,
)
from tlweb.viz import training as tv
from tlweb.viz.common import message_figure

NO_PICK = "Pick a run or an experiment first (Runs table or list)."


def _seeds(value) -> int:
    """The Seeds control's value (1, 3 or 5; an API caller may send any small number)."""
    from tlweb.engine.train import DEFAULT_SEEDS

    try:
        n = int(value) if value not in (None, "") else DEFAULT_SEEDS
    except (TypeError, ValueError):
        raise TlwebError(f"Seeds must be a whole number (got '{value}').") from None
    if not 1 <= n <= 10:
        raise TlwebError("Seeds must be between 1 and 10.")
    return n


def train_kwargs(epochs_v, batch_v, lr_v, cap_v) -> dict:
    return {
        "epochs": parse_auto(epochs_v, int, "epochs"),
        "batch_size": parse_auto(batch_v, int, "batch size"),
        "lr": parse_auto(lr_v, float, "learning rate"),
        "per_class": parse_auto(cap_v, int, "images per class"),
    }


def _entry_label(entry) -> str:
    from tlweb.engine.runs import ExperimentInfo

    status = "" if entry.status == "done" else f" ({entry.status})"
    if isinstance(entry, ExperimentInfo):
        return f"{entry.title} · {len(entry.runs)} runs{status}"
    return f"{entry.title}{status}"


def guard_sign_in() -> bool:
    from tlweb.ui.guard import sign_in_enabled

    return sign_in_enabled()


class Handlers:
    """Every handler of the tab, bound to one app's settings and to the tab's components (``tab``: the
    :class:`~tlweb.ui.tabs.finetune.FinetuneTab` they fill; handlers return dicts keyed by its components)."""

    def __init__(self, settings: Settings, tab=None):
        self.settings = settings
        self.tab = tab

    # ------------------------------------------------------------------ data

    @staticmethod
    def classifying(sess) -> bool:
        """The page's task is classification (the task switch of step 1; API callers: always)."""
        return getattr(sess, "task", "image-classification") == "image-classification"

    def ensure_data(self, sess: FtSession, values):
        src, zf, hid, icol, lcol = values[:5]
        names = list(values[5:5 + N_SLOTS])
        files = list(values[5 + N_SLOTS:5 + 2 * N_SLOTS])
        key = data_key(src, zf, hid, icol, lcol, names, files)
        if sess.data is None or sess.data_key != key:
            sess.data = prepare_data(src, zf, hid, icol, lcol, names, files, self.settings)
            sess.data_key = key
        return sess.data

    @user_errors
    def load(self, *args):
        *values, sess = args
        if not self.classifying(sess):  # the page fine-tunes a segmenter or a detector (task_handlers.py)
            return gr.skip()  # (one skip: every output stays as it is)
        data = self.ensure_data(sess, values)
        return tv.class_counts_bar(data.counts(), title=f"Images per class · {len(data.class_names)} classes"), \
            data_notes(data)

    def data_for_run(self, sess: FtSession):
        if sess.data is None:  # API callers that skipped load_data: the default source
            sess.data = prepare_data("sample", None, None, None, None, [], [], self.settings)
            sess.data_key = ("sample",)
        return sess.data

    # ------------------------------------------------------------------ runs list

    def runs_outputs(self, select: str | None = None, pick_first: bool = True, query: str | None = None):
        """(table rows, dropdown update) over experiments and single runs, newest first, those that
        match ``query``; experiments are collapsed but the one holding ``select``. The dropdown keeps
        ``select``, else the newest entry (or nothing, without ``pick_first``)."""
        from tlweb.engine.runs import ExperimentInfo, list_entries

        entries = tv.filter_entries(list_entries(self.settings), query)
        open_ids = {e.experiment_id for e in entries if isinstance(e, ExperimentInfo)
                    and select in {e.experiment_id, *(r.run_id for r in e.runs)}}
        choices = []
        for e in entries:
            if isinstance(e, ExperimentInfo):
                choices.append((_entry_label(e), e.experiment_id))
                if e.experiment_id in open_ids:
                    choices.extend((f"{e.title} › {r.part}" + (f" · seed {r.seed}" if r.seed else ""), r.run_id)
                                   for r in e.runs)
            else:
                choices.append((_entry_label(e), e.run_id))
        ids = [v for _, v in choices]
        value = select if select in ids else (ids[0] if ids and pick_first else None)
        return tv.runs_table(entries, expanded=open_ids), gr.update(choices=choices, value=value)

    @user_errors
    def refresh_runs(self, query: str | None = None):
        return self.runs_outputs(query=query)

    @user_errors
    def filter_runs(self, query: str | None, select: str | None):
        return self.runs_outputs(select, query=query)

    @user_errors
    def expand(self, select: str | None, query: str | None):
        """The table with the picked experiment (or the experiment of the picked run) open."""
        table, pick = self.runs_outputs(select, query=query)
        return table

    # ------------------------------------------------------------------ one run

    @user_errors
    def train(self, model, custom_model, strategy, epochs, batch_size, lr, per_class, sess: FtSession):
        from tlweb.engine.train import TrainConfig, iter_finetune, start_run
        from tlweb.ui.components import picked_model

        if not self.classifying(sess):  # the same Start button trains the page's other task (task_handlers.py)
            yield gr.skip()  # (one skip: every output stays as it is)
            return
        t, r, runs = self.tab.train, self.tab.results, self.tab.runs
        name = picked_model(model, custom_model)
        cfg = TrainConfig(model=name, data=self.data_for_run(sess), strategy=strategy or "linear",
                          **train_kwargs(epochs, batch_size, lr, per_class))
        cfg = start_run(cfg, self.settings)  # the run folder first: Stop writes its STOP file from now on
        sess.start(cfg.out_dir)
        worker = Worker(iter_finetune(cfg, self.settings))
        progress = Progress()
        empty = message_figure("Training…")
        redraw = Every(0.5)  # the curves at most twice a second, the status line with every batch
        with cpu_threads(training_threads(name, self.settings)):  # a tiny model: one CPU thread
            try:
                yield {t.status: progress.html(), t.curves: tv.training_curves([]), r.metrics: "", r.hint: "",
                       r.confusion: empty, r.per_class_plot: empty, r.mistakes: []}
                for batch in worker.batches():
                    if not batch:
                        continue
                    progress.add(batch)
                    update = {t.status: progress.html(detail=job_story(cfg.strategy, 0, 0, 0.0))}
                    if redraw.due():
                        update[t.curves] = tv.training_curves(progress.events)
                    yield update
            finally:
                worker.close()
                sess.start(None)  # nothing trains any more: Stop has nothing to stop
        result = worker.result
        sess.last_run = result.run_id
        table, pick = self.runs_outputs(result.run_id)
        yield {t.status: status_html(self._done_text(result), 1.0, "stopped" if result.stopped else "done"),
               t.curves: tv.training_curves(progress.events or [e.as_dict() for e in result.history]),
               r.metrics: tv.metrics_html(result), r.hint: self._notes(name, cfg.data) + self._hint(result),
               r.confusion: tv.confusion_heatmap(result.metrics.get("confusion_matrix") or [],
                                                 result.metrics.get("class_names") or cfg.data.class_names),
               r.per_class_plot: tv.per_class_bars(result.metrics.get("per_class") or {}),
               r.mistakes: serve_gallery(tv.mistake_captions(result.mistakes)), runs.table: table, runs.run_pick: pick}

    @staticmethod
    def _done_text(result) -> str:
        from tlweb.viz.uncertainty import accuracy_text

        return (f"<b>{'Stopped' if result.stopped else 'Done'}</b> · {strategy_label(result.strategy)}"
                f" · test accuracy <b>{accuracy_text(result.test_accuracy, result.test_images)}</b> · macro-F1 "
                f"<b>{result.test_macro_f1 * 100:.1f}%</b> · {_fmt_s(result.wall_s)} · details in <b>4 · Results</b>")

    def _notes(self, name: str, data) -> str:
        """Warnings that belong next to the numbers: a backbone that knows only generated shapes used
        on photos (the built-in sample is generated shapes too)."""
        from tlweb.engine.listing import resolve
        from tlweb.viz.uncertainty import synthetic_backbone_note

        try:
            spec = resolve(name, settings=self.settings)
        except TlwebError:
            return ""
        note = synthetic_backbone_note(spec.pretrained_on, data_is_generated=getattr(data, "source", "") == "sample")
        return f"<div class='ft-hint ft-warn'>⚠️ {html.escape(note)}</div>" if note else ""

    def _hint(self, result) -> str:
        from tlweb.catalog import RUN_LABEL_SUFFIX
        from tlweb.engine.runs import run_title

        label = run_title(result.run_dir) + RUN_LABEL_SUFFIX
        return (f"<div class='ft-hint'>Saved as run <code>{html.escape(result.run_id)}</code>. Its model is now in "
                f"the <b>Classify</b> tab's list as <i>{html.escape(label)}</i>; download it, push it to the Hub "
                "or delete it in step <b>6 · Runs</b>.</div>")

    def stop(self, sess: FtSession):
        if not sess.request_stop():
            return status_html("Nothing is training in this page.", None, "stopped")
        return status_html("Stopping after the current step… the model so far is kept.", None, "stopped")

    # ------------------------------------------------------------------ experiments

    def _experiment(self, sess: FtSession, kind: str, name: str, data, order, **kw):
        from tlweb.engine.train import start_experiment

        exp_dir = start_experiment(kind, name, data, order, self.settings, **kw)
        sess.start(exp_dir)
        sess.experiments[kind] = exp_dir
        return exp_dir

    @staticmethod
    def _finish(exp_dir, sess: FtSession, ok: bool, closed: bool = False) -> bool:
        """Record how the experiment ended: stopped (Stop, or the page closed: ``closed``), done, or failed
        (an error). A closed page is not a failure: its runs stop cleanly and keep their models."""
        from tlweb.engine.runs.store import finish_experiment, stop_requested

        stopped = stop_requested(exp_dir) or closed
        finish_experiment(exp_dir, "stopped" if stopped else "done" if ok else "failed")
        return stopped

    @user_errors
    def ladder(self, model, custom_model, strategies, epochs, batch_size, lr, per_class, seeds, sess: FtSession):
        from tlweb.engine.train import iter_ladder, strategy_names
        from tlweb.ui.components import picked_model

        if not strategies:
            raise TlwebError("Tick at least one strategy for the ladder.")
        order = [s for s in strategy_names() if s in strategies]
        name = picked_model(model, custom_model)
        kwargs = {k: v for k, v in train_kwargs(epochs, batch_size, lr, per_class).items() if v is not None}
        data = self.data_for_run(sess)
        chance = _chance(data)
        seeds = _seeds(seeds)
        exp_dir = self._experiment(sess, "ladder", name, data, order, seeds=seeds, **kwargs)
        c = self.tab.compare
        results, events, ok, closed, worker = [], [], False, False, None
        with cpu_threads(training_threads(name, self.settings)):  # a tiny model: one CPU thread
            try:
                yield {c.status: status_html(f"Strategy ladder: {len(order)} strategies × {seeds} "
                                             f"seed{'s' if seeds > 1 else ''} on the same split and budget…", 0.0),
                       c.ladder_plot: tv.ladder_chart([], chance=chance), c.curves: tv.training_curves([])}
                # One GPU call per strategy (same prepared split and experiment): the bars appear one by one.
                worker = Worker(iter_ladder(name, data, strategies=order, settings=self.settings, experiment=exp_dir,
                                            seeds=seeds, **kwargs))
                progress, started, redraw = Progress(), time.monotonic(), Every(5.0)  # (a folded chart: seldom)
                for batch in worker.batches():
                    if len(worker.results) > len(results):
                        results = list(worker.results)
                        progress = Progress()
                        yield {c.ladder_plot: tv.ladder_chart(results, chance=chance)}
                    if not batch:
                        continue
                    progress.add(batch)
                    events.extend(batch)
                    d = progress.latest
                    i = len(results)
                    runs = len(order) * seeds
                    frac = (i + int(d.get("step") or 0) / max(1, int(d.get("total_steps") or 1))) / runs
                    story = job_story(d.get("strategy"), i, runs, time.monotonic() - started)
                    update = {c.status: progress.html(prefix=f"{min(i + 1, runs)}/{runs} · ", fraction=frac, detail=story)}
                    if redraw.due():
                        update[c.curves] = tv.training_curves(events, title="Ladder runs")
                    yield update
                ok = True
            except GeneratorExit:  # the page closed (or the event was cancelled): the runs stop and keep their models
                closed = True
                raise
            finally:
                if worker is not None:
                    worker.close()
                sess.start(None)
                stopped = self._finish(exp_dir, sess, ok, closed) or any(r.stopped for r in results)
        text = f"<b>Ladder {'stopped' if stopped else 'done'}</b> · {len(results)} runs"
        means: dict[str, list[float]] = {}
        for r in results:
            means.setdefault(r.strategy, []).append(r.test_accuracy)
        if means:
            top = max(means, key=lambda k: sum(means[k]) / len(means[k]))
            mean = sum(means[top]) / len(means[top])
            what = f"mean of {len(means[top])} seeds" if len(means[top]) > 1 else "test accuracy"
            text += f" · best: {strategy_label(top)} ({mean * 100:.1f}% {what})"
        yield {c.status: status_html(text, 1.0, "stopped" if stopped else "done"),
               c.ladder_plot: tv.ladder_chart(results, chance=chance),
               c.curves: tv.training_curves(events, title="Ladder runs")}

    @user_errors
    def efficiency(self, model, custom_model, strategies, shots, epochs, batch_size, lr, seeds, zero_shot="",
                   templates=None, sess: FtSession = None):
        from tlweb.engine.train import iter_efficiency, strategy_names
        from tlweb.engine.train.baseline import baseline_of, check_zero_shot
        from tlweb.ui.components import picked_model

        if not strategies:
            raise TlwebError("Tick at least one strategy for the data-efficiency curve.")
        name = picked_model(model, custom_model)
        kwargs = {k: v for k, v in train_kwargs(epochs, batch_size, lr, None).items() if v is not None}
        data = self.data_for_run(sess)
        chance = _chance(data)
        smallest = min(data.counts().get("train", {}).values() or [0])
        wanted = sorted({int(s) for s in (shots or SHOTS)})
        usable = [s for s in wanted if s <= smallest]
        if not usable:
            raise DataError(f"The smallest class has {smallest} training images: pick fewer images per class.")
        order = tuple(s for s in strategy_names() if s in strategies)
        seeds = _seeds(seeds)
        total = len(usable) * len(order) * seeds
        skipped = [s for s in wanted if s > smallest]
        note = f"Skipped {', '.join(map(str, skipped))} per class (the smallest class has {smallest})." if skipped else ""
        baseline = check_zero_shot(zero_shot, templates, self.settings)  # a sentence before the experiment exists
        exp_dir = self._experiment(sess, "data-efficiency", name, data, order, shots=usable, seeds=seeds, **kwargs)
        rows, ok, closed, worker = [], False, False, None
        c = self.tab.compare
        zs_note = f" + the zero-shot baseline {baseline[0]}" if baseline else ""
        with cpu_threads(training_threads(name, self.settings)):  # a tiny model: one CPU thread
            try:
                yield {c.status: status_html(f"Data efficiency: {total} runs ({len(order)} strategies × {len(usable)} "
                                             f"sizes × {seeds} seed{'s' if seeds > 1 else ''}){zs_note}…", 0.0,
                                             detail=note),
                       c.eff_plot: tv.efficiency_curves([], chance=chance), c.curves: tv.training_curves([])}
                # One GPU call per run (the engine keeps the split and the subsampling seed): the curve grows live.
                # The zero-shot baseline, when picked, comes first: its dashed line is there before the first point.
                worker = Worker(iter_efficiency(name, data, shots=usable, strategies=order, settings=self.settings,
                                                experiment=exp_dir, seeds=seeds, zero_shot=baseline and baseline[0],
                                                templates=baseline and baseline[1], **kwargs))
                progress, started, redraw = Progress(), time.monotonic(), Every(5.0)  # (a folded chart: seldom)
                for batch in worker.batches():
                    if len(worker.results) > len(rows):
                        rows = list(worker.results)
                        done = len(rows) - bool(baseline_of(rows))
                        progress = Progress()
                        yield {c.status: status_html(f"{done}/{total} runs done", done / total, detail=note),
                               c.eff_plot: tv.efficiency_curves(rows, chance=chance)}
                    if not batch:
                        continue
                    progress.add(batch)
                    done = len(rows) - bool(baseline_of(rows))
                    k = usable[min(done // max(1, len(order) * seeds), len(usable) - 1)]
                    story = job_story(progress.latest.get("strategy"), done, total, time.monotonic() - started)
                    update = {c.status: progress.html(prefix=f"{k}/class · run {done + 1}/{total} · ",
                                                      fraction=done / total,
                                                      detail=" ".join(x for x in (story, note) if x))}
                    if redraw.due():
                        update[c.curves] = tv.training_curves(progress.events, title=f"{k} images per class")
                    yield update
                ok = True
            except GeneratorExit:  # the page closed (or the event was cancelled): the runs stop and keep their models
                closed = True
                raise
            finally:
                if worker is not None:
                    worker.close()
                sess.start(None)
                stopped = self._finish(exp_dir, sess, ok, closed)
        zs = baseline_of(rows)
        text = f"<b>Data efficiency {'stopped' if stopped else 'done'}</b> · {len(rows) - bool(zs)} runs"
        yield {c.status: status_html(text + (f" · {html.escape(tv.zero_shot_sentence(rows, zs))}" if zs else ""),
                                     1.0, "stopped" if stopped else "done", detail=note),
               c.eff_plot: tv.efficiency_curves(rows, chance=chance)}

    # ------------------------------------------------------------------ the picked run or experiment

    @user_errors
    def details(self, ref):
        from tlweb.engine.runs import ExperimentInfo, entry_info

        if not ref:  # (the details keep what they say, e.g. what was just deleted)
            return {self.tab.runs.curves: message_figure("Pick a run to see its curves")}
        info = entry_info(ref, self.settings)
        figure, body = (self._experiment_details if isinstance(info, ExperimentInfo) else self._run_details)(info)
        return {self.tab.runs.curves: figure, self.tab.runs.details: body}

    def _run_details(self, info):
        from tlweb.catalog import RUN_LABEL_SUFFIX
        from tlweb.engine.runs import load_run

        _, events, _m = load_run(info.run_id, self.settings)
        cards = []
        if info.test_accuracy is not None:
            cards = [(f"{info.test_accuracy * 100:.1f}%", "test accuracy", tv.PALETTE[0]),
                     (f"{(info.test_macro_f1 or 0) * 100:.1f}%", "macro-F1", tv.PALETTE[2])]
        names = ", ".join(info.class_names[:20]) + (" …" if len(info.class_names) > 20 else "")
        facts = [("run", info.run_id), ("status", info.status), ("strategy", tv.strategy_legend(info.strategy)),
                 ("base model", info.base_model), (f"{len(info.class_names)} classes", names),
                 ("created", str(info.created).replace("T", " ")[:19])]
        if info.experiment_id:
            facts.insert(1, ("experiment", info.experiment_id))
        body = (tv.score_cards_html(cards) if cards else "") + tv.facts_html(facts, code=("run",))
        body += (f"<div class='ft-hint'>In the <b>Classify</b> tab, pick <i>{html.escape(info.title + RUN_LABEL_SUFFIX)}"
                 f"</i> or type <code>{html.escape(info.run_id)}</code>.</div>")
        return tv.training_curves(events, title=f"Curves · {info.title}"), body

    def _experiment_details(self, info):
        from tlweb.engine.runs.present import experiment_rows

        rows = experiment_rows(info)
        n = len(info.data.get("class_names") or []) or None
        chance = 1.0 / n if n and n >= 2 else None
        if info.kind == "data-efficiency":
            fig = tv.efficiency_curves(rows, title=info.title, chance=chance, zero_shot=info.zero_shot or None)
        else:
            fig = tv.ladder_chart(rows, title=info.title, chance=chance)
        best = info.best
        cards = [(f"{best.test_accuracy * 100:.1f}%", f"best: {best.part}", tv.strategy_color(best.strategy))] \
            if best else []
        facts = [("experiment", info.experiment_id), ("kind", info.kind), ("status", info.status),
                 ("base model", info.base_model), ("strategies", ", ".join(info.strategies)),
                 ("runs", f"{len(info.runs)} (pick one to see its curves or download its model)"),
                 ("created", str(info.created).replace("T", " ")[:19])]
        if info.shots:
            facts.insert(5, ("images per class", ", ".join(map(str, info.shots))))
        if info.zero_shot:
            facts.insert(5, ("zero-shot baseline", tv.zero_shot_sentence(rows, info.zero_shot)))
        return fig, (tv.score_cards_html(cards) if cards else "") + tv.facts_html(facts, code=("experiment",))

    @user_errors
    def export(self, ref):
        from tlweb.engine.publish import export_zip
        from tlweb.engine.runs.store import entry_path, is_experiment

        if not ref:
            raise TlwebError(NO_PICK)
        if is_experiment(entry_path(ref, self.settings)):
            raise TlwebError("An experiment holds several models: pick one of its runs to download its model.")
        return gr.update(value=serve_file(export_zip(ref, self.settings)), visible=True)

    @for_session  # as the visitor (their session, or their account when signed in): only their own runs
    def push(self, run_id, repo, token_v, private_v, profile: gr.OAuthProfile | None = None,
             oauth_token: gr.OAuthToken | None = None):
        """Push the picked run. Signed in with Hugging Face (a Space): no token to paste, the visitor's OAuth
        token pushes into their namespace or an organisation they may write to (repository left empty: their
        own, named after the run). Otherwise a pasted token with write access."""
        from tlweb.engine.publish import namespaces_of, push_run

        if not run_id:
            raise gr.Error(NO_PICK, print_exception=False)
        typed = (token_v or "").strip()
        signed_in = profile is not None and oauth_token is not None and not typed
        namespaces = namespaces_of(dict(profile)) if signed_in else None
        repo = (repo or "").strip()
        if signed_in and not repo and namespaces:
            repo = f"{namespaces[0]}/{run_id}"[:96]
        if not repo or "/" not in repo:
            raise gr.Error("Type a repository id like 'your-name/my-classifier'.", print_exception=False)
        token = oauth_token.token if signed_in else typed
        if not token:
            raise gr.Error("Sign in with Hugging Face, or paste an access token with write access."
                           if guard_sign_in() else "Paste a Hugging Face access token with write access.",
                           print_exception=False)
        try:
            url = push_run(run_id, repo, token, private=bool(private_v), settings=self.settings,
                           namespaces=namespaces)
        except Exception as exc:  # noqa: BLE001 - the message must never carry the token
            msg = str(exc) if isinstance(exc, TlwebError) else \
                f"Pushing to the Hub failed ({type(exc).__name__}); check the repository id, the token and the network."
            raise gr.Error(msg.replace(token, "***"), print_exception=False) from None
        return f"Pushed: [{html.escape(url)}]({url})"

    # ------------------------------------------------------------------ reports

    def report(self, ref):
        """The picked run's report, or its experiment's (a ladder, a data-efficiency curve)."""
        from tlweb.engine.runs import ExperimentInfo, entry_info
        from tlweb.viz.report import report_for_experiment, report_for_run

        if not ref:
            raise TlwebError(NO_PICK)
        info = entry_info(ref, self.settings)
        if isinstance(info, ExperimentInfo):
            return report_for_experiment(info, self.settings)
        return report_for_run(info.run_dir, self.settings)

    def experiment_report(self, kind: str, what: str):
        """The report of this page's last ladder or data-efficiency curve."""
        from tlweb.ui.components import nothing_yet
        from tlweb.viz.report import report_for_experiment

        def make(sess: FtSession):
            folder = sess.experiments.get(kind)
            if folder is None or not folder.is_dir():
                raise nothing_yet(what)
            return report_for_experiment(folder.name, self.settings)

        make.__name__ = f"{kind.replace('-', '_')}_report"
        return make

    # ------------------------------------------------------------------ delete, with a confirm step

    @user_errors
    def delete_ask(self, ref):
        from tlweb.engine.runs import entry_info
        from tlweb.engine.runs.present import describe

        if not ref:
            raise TlwebError(NO_PICK)
        what = describe(entry_info(ref, self.settings))
        return gr.update(visible=True), (f"Delete the {html.escape(what)} for good? Its folder (model, events, "
                                         "metrics) is removed.")

    @user_errors
    def delete(self, ref):
        from tlweb.engine.runs.store import delete_entry

        if not ref:
            raise TlwebError(NO_PICK)
        what = delete_entry(ref, self.settings)
        table, pick = self.runs_outputs(pick_first=False)
        return gr.update(visible=False), table, pick, f"<div class='ft-hint'>Deleted the {html.escape(what)}.</div>"

    # ------------------------------------------------------------------ small widgets

    @staticmethod
    def add_slot(n):
        n = min(N_SLOTS, int(n or 2) + 1)
        return [n] + [gr.update(visible=i < n) for i in range(N_SLOTS)] + [gr.update(interactive=n < N_SLOTS)]

    def add_capture(self, image_path, slot, *files):
        """The snapshot joins the picked class's images (the other classes' stay as they are)."""
        if not image_path:
            raise gr.Error("Take a snapshot first.", print_exception=False)
        slot = int(slot or 0)
        return {self.tab.data.slot_files[slot]: _paths(files[slot]) + [image_path]}

    @staticmethod
    def pick_row(evt: gr.SelectData):
        row = evt.row_value or []
        return row[-1] if row else gr.skip()  # the id is the last column

    @staticmethod
    def on_source(src):
        return gr.update(visible=src == "zip"), gr.update(visible=src == "hub"), gr.update(visible=src == "classes")
