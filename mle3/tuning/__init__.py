"""Hyperparameter studies on Optuna (``mle3 tune``): the search space of a training
configuration's ``tuning:`` block, trials that are recorded runs, the study record, and
accepting the best trial as a new configuration."""
