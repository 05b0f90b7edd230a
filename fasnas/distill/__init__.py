"""Knowledge distillation: pure loss functions, the KD-loss registry, and the DistillSpec.

Modules: ``losses`` (pure functions of tensors), ``compose`` (the registry of KD losses, each
with its DistillSpec weight field and the teacher outputs it needs, and the one function that
builds a student's training loss from a spec) and ``spec`` (:class:`DistillSpec`).
"""
