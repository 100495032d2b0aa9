"""Training tasks: one :class:`~tlweb.engine.train.tasks.base.TrainTask` record per task that the one
training run (:func:`tlweb.engine.train.finetune`) can train, registered next to its code.

Importing this package imports every plug-in module below, so :func:`train_task` finds them all;
a new task adds its module and one import line here.
"""

from tlweb.engine.train.tasks.base import (
    CLASSIFICATION,
    DETECTION,
    SEGMENTATION,
    Encoded,
    Evaluation,
    Feed,
    ModelParts,
    TaskData,
    TrainTask,
    register_train_task,
    train_task,
    train_task_names,
    train_tasks,
)
from tlweb.engine.train.tasks.classification import ClassificationTask

__all__ = [
    "CLASSIFICATION", "ClassificationTask", "DETECTION", "SEGMENTATION", "Encoded", "Evaluation", "Feed", "ModelParts", "TaskData",
    "TrainTask", "register_train_task", "train_task", "train_task_names", "train_tasks",
]

# the plug-ins (each registers its TrainTask when imported)
from tlweb.engine.train.tasks import detection, segmentation  # noqa: E402, F401
