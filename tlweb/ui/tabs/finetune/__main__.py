"""``python -m tlweb.ui.tabs.finetune``: the Fine-tune tab alone."""

from tlweb.ui.serving import launch_single
from tlweb.ui.tabs.finetune import TITLE, build

launch_single(TITLE, build)
