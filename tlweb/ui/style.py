"""The app's CSS, in one place: layout, the Fine-tune and Embeddings sections, presenter mode and dark mode.

Everything a tab draws with a class of its own is styled here rather than in a ``<style>`` tag inside the
tab: gradio renders a tab's HTML only once the tab is opened, so a style tag in the Fine-tune tab's first
step did not exist yet when the Learn tab jumped straight to step 3 (its numbered badges lost their circles).

Boxes with a tinted background (hints, warnings, confirmations, badges, errors) get a dark-theme variant:
gradio's dark theme repaints text light, so a pale box would hold white text on a near-white background.
"""

from __future__ import annotations

from tlweb.viz.common import THEME_CSS

LAYOUT = """
.gradio-container {max-width: 1280px !important; margin: auto; padding-top: 6px !important;}
#tl-header-row {align-items: center; gap: 10px;}
#tl-header h1 {margin: 0; font-size: 1.4em; line-height: 1.25;}
#tl-header p {margin: 0; color: var(--body-text-color-subdued); font-size: 0.88em;}
#tl-badges {text-align: right;}
#tl-badges .tl-badge {margin: 1px 0 1px 6px;}
.tl-intro {font-size: 0.92em; padding: 0 0 0.2em 0; color: var(--body-text-color-subdued);}
.tl-intro p {margin: 0.1em 0;}
.tl-badge {display:inline-block; padding: 2px 10px; border-radius: 999px; font-size: 0.8em; margin-right: 6px;
           background: var(--block-background-fill); border: 1px solid var(--border-color-primary);}
.tl-badge.warn {background: #FEF3C7; color: #92400E; border-color: #FCD34D;}
.tl-badge.ok {background: #D1FAE5; color: #065F46; border-color: #6EE7B7;}
.tl-top1 {font-size: 1.35em; font-weight: 600; margin: 0.2em 0 0.4em 0;}
.tl-top1 span {color: var(--color-accent); margin-left: 0.4em;}
.tl-model-state {font-size: 0.88em; padding: 2px 2px;}
.tl-model-state.ok {color: #047857;}
/* table headers wrap between words, never inside one ("strateg y") */
table th, table th * {word-break: normal !important; overflow-wrap: normal !important; hyphens: manual;}
footer {display: none !important;}
/* a gallery keeps its columns when it holds fewer pictures (gradio would stretch one picture full width) */
#ft-mistakes .grid-container {--grid-cols: 3 !important;}
#compare-preview .grid-container {--grid-cols: 6 !important;}
#emb-neighbours .grid-container {--grid-cols: 7 !important;}
/* Learn: every step's text takes the free height, so the "Show me" buttons line up at one size */
.tl-step > .prose, .tl-step > div:first-child {flex-grow: 1;}
.tl-step > button {flex: 0 0 auto !important;}
"""

# Icons drawn by CSS from inline SVG (a mask painted in the text's colour): an emoji such as 🗑 needs a colour-emoji
# font, and where none is installed the button showed an empty box.
TRASH_SVG = ("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' stroke='black' stroke-width='2' "
             "stroke-linecap='round' stroke-linejoin='round'><path d='M3 6h18'/><path d='M8 6V4h8v2'/>"
             "<path d='M19 6l-1 14H6L5 6'/><path d='M10 11v6M14 11v6'/></svg>")


def _mask_icon(css_class: str, svg: str) -> str:
    from urllib.parse import quote

    url = "url(\"data:image/svg+xml," + quote(svg) + "\")"
    return (f"button.{css_class}::before {{content: ''; display: inline-block; width: 1em; height: 1em; "
            f"margin-right: 0.4em; vertical-align: -0.12em; background-color: currentColor; "
            f"-webkit-mask: {url} center / contain no-repeat; mask: {url} center / contain no-repeat;}}\n")


ICONS = _mask_icon("tl-icon-trash", TRASH_SVG)

FINETUNE = """
.ft-sec {display:flex; gap:12px; align-items:flex-start; margin:18px 0 4px 0;}
.ft-sec .ft-num {flex:none; width:30px; height:30px; border-radius:50%; background:#4F46E5; color:white;
  font-weight:700; display:flex; align-items:center; justify-content:center; font-size:15px; margin-top:2px;}
.ft-sec h3 {margin:0; font-size:1.2em; line-height:1.3;}
.ft-sec p {margin:2px 0 0 0; color:var(--body-text-color-subdued); font-size:0.93em;}
.ft-status {font-size:0.95em; padding:8px 12px; border-radius:10px; border:1px solid var(--border-color-primary);
  background:var(--block-background-fill);}
.ft-status .bar {height:6px; border-radius:3px; background:rgba(99,102,241,0.18); margin-top:7px; overflow:hidden;}
.ft-status .bar > div {height:6px; background:#4F46E5; border-radius:3px;}
.ft-status.done .bar > div {background:#10B981;}
.ft-status.stopped .bar > div {background:#F97316;}
.ft-status .muted {color:var(--body-text-color-subdued);}
.ft-hint {font-size:0.92em; padding:8px 12px; border-radius:10px; background:#EEF2FF; color:#312E81;
  border:1px solid #C7D2FE; margin-top:6px;}
.ft-hint.ft-warn {background:#FEF3C7; color:#92400E; border-color:#FCD34D;}
.ft-notes {font-size:0.9em; color:var(--body-text-color-subdued);}
.ft-notes ul {margin:4px 0 0 18px;}
#ft-mistakes .caption-label {white-space:normal; max-width:94%; font-size:12px; opacity:0.92;}
.ft-confirm {border:1px solid #FCA5A5; background:#FEF2F2; border-radius:10px; padding:8px 12px;}
#ft-runs-note:empty {display:none;}
"""

EMBEDDINGS = """
.emb-sec h3 {margin: 14px 0 0 0;} .emb-sec p {margin: 2px 0 0 0; color: var(--body-text-color-subdued);}
#emb-best {font-size: 1.02em; padding: 8px 12px; border-radius: 10px; background: #EEF2FF; color: #312E81;
  border: 1px solid #C7D2FE;}
#emb-best:empty {display: none;}
"""

# The dark theme: tinted boxes become translucent tints of the same hue, their text a light shade of it.
DARK = """
.dark .ft-hint, .dark #emb-best {background: rgba(99,102,241,0.16) !important; color: #C7D2FE !important;
  border-color: rgba(129,140,248,0.45) !important;}
.dark .ft-hint *, .dark #emb-best * {color: inherit;}
.dark .ft-hint code {background: rgba(15,23,42,0.5); color: #E0E7FF;}
.dark .ft-hint.ft-warn, .dark .tl-badge.warn {background: rgba(245,158,11,0.14) !important; color: #FCD34D !important;
  border-color: rgba(252,211,77,0.4) !important;}
.dark .tl-badge.ok {background: rgba(16,185,129,0.14); color: #6EE7B7; border-color: rgba(110,231,183,0.4);}
.dark .ft-confirm {background: rgba(239,68,68,0.12); border-color: rgba(252,165,165,0.45);}
.dark .tl-error {background: rgba(239,68,68,0.14) !important; color: #FCA5A5 !important;
  border-color: rgba(252,165,165,0.45) !important;}
.dark .tl-model-state.ok {color: #6EE7B7;}
"""

# Presenter mode (?present=1 or the header toggle): large type, technical cards hidden.
PRESENTER = """
body.tl-present {--text-xxs: 12px; --text-xs: 14px; --text-sm: 16px; --text-md: 19px; --text-lg: 22px;
  --text-xl: 28px; --text-xxl: 34px; --body-text-size: 19px; --block-label-text-size: 16px;
  --block-info-text-size: 15px; --block-title-text-size: 18px; --button-large-text-size: 22px;
  --button-medium-text-size: 19px; --button-small-text-size: 16px; --checkbox-label-text-size: 17px;
  --input-text-size: 19px; --prose-text-size: 19px; --section-header-text-size: 19px;}
body.tl-present .tl-tech, body.tl-present #tl-header p, body.tl-present #tl-badges {display: none !important;}
body.tl-present .tl-top1 {font-size: 1.8em;}
body.tl-present #ft-task {margin: 0 !important; padding: 0 !important; gap: 4px !important;}
body.tl-present #ft-step-data .ft-sec p {display: none;}  /* the badge and title say it; Load stays in view */
body.tl-present #ft-task label {padding: 2px 10px !important; min-height: 0 !important; font-size: 15px !important;}
body.tl-present button.primary {min-width: max-content !important;}
body.tl-present .gradio-container {max-width: 1400px !important; padding-bottom: 70vh !important;}
"""

CSS = LAYOUT + ICONS + FINETUNE + EMBEDDINGS + DARK + PRESENTER + THEME_CSS
