"""FLIP teachers: models on open_clip (:mod:`.flip`), checkpoint import and teacher files
(:mod:`.checkpoints`), fine-tuning (:mod:`.train`) and the teacher-output cache (:mod:`.cache`).

Nothing is imported here, so ``import fasnas.teacher`` stays cheap; import the submodules.
"""
