"""FLIP teachers, one module per concern; nothing is imported here, so ``import fasnas.teacher``
stays cheap: import the submodules.

- :mod:`.settings`: the ``teacher:`` section of a study config;
- :mod:`.configs`: which CLIP (open_clip config names, the built-in tiny configs);
- :mod:`.prompts`: FLIP's prompt ensembles; :mod:`.mcl`: the FLIP-MCL head and losses;
- :mod:`.flip`: :class:`~.flip.FlipTeacher`, the three FLIP variants;
- :mod:`.file`: fasnas' own self-describing teacher file (save, load, info);
- :mod:`.safeload` and :mod:`.checkpoints`: importing foreign checkpoints into teacher files;
- :mod:`.resolve`: a protocol's teacher, vetted for leakage; :mod:`.train`: fine-tuning;
- :mod:`.cache`: the teacher-output cache; :mod:`.reference`: the teacher's reference point
  for reports (name, GMACs, HTERs).
"""
