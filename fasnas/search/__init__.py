"""The search: settings, sessions on an Optuna study, workers, recovery, early stopping, bench.

Modules, from the bottom up: ``settings`` (the ``search:`` and ``objective:`` sections, the
sampler registry), ``budget``, ``early_stop``, ``artifacts``, ``recovery``, ``session`` (open a
study, its fingerprint and record), ``worker`` (the trial loop, heartbeat, signals, processes),
``bench`` (fixed baseline trials) and ``commands`` (what the CLI calls).
"""
