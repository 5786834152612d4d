"""What a training configuration means to ultralytics: argument mapping, augmentation and its preview, environment.

:mod:`mapping` turns a ``training_config`` into ultralytics arguments and names every
deviation; :mod:`augment` and :mod:`transforms` build the augmentation pipeline (the
night transforms included) that :mod:`preview` renders before anything trains;
:mod:`environment` captures the software, hardware and git state a run records. The
trainer (:mod:`mle3.runner`) and the reports read the same pieces, so a report shows
exactly what a run would do. ``mapping``, ``augment`` and ``environment`` import neither torch
nor ultralytics; ``transforms`` and ``preview`` need albumentations, so callers import them lazily.
"""
