"""Synthetic MCIO benchmark in FLIP's exact layout (``fasnas data synth``).

Owns the public API of the generator: :func:`synthesize` writes ``OUT/MCIO/frame`` and
``OUT/MCIO/txt`` exactly as FLIP's data preparation leaves the real MSU-MFSD, CASIA-FASD,
Replay-Attack, OULU-NPU and CelebA-Spoof (docs/flip.md §1), so every reader of the real data
reads it unchanged::

    fasnas data synth demo_data --scale 0.1 --size 64 --seed 0 --workers 2

What is written:

- ``frame/<ds>/{train,test}/{real,fake}/<video>_frame0.png`` and ``_frame1.png`` for msu, casia,
  replay and oulu (the two frames show the same scene with a little motion, pose and light
  change); ``frame/celeb/{real,fake}/<id>_{live,spoof}_<n>.jpg``, one image per "video".
  Videos are named like the real ones (``real_client033_android_SD_scene01``, ``12_HR_1``,
  ``fixed_attack_highdef_client001_session01_highdef_photo_adverse``, ``1_1_01_1``,
  ``167_live_096546``) and sit in the ``train/`` or ``test/`` folder by subject, about half each.
- ``txt/<ds>_{real,fake}_{train,test,shot}.txt`` naming only ``_frame0`` paths, and
  ``txt/celeb_{real,fake}_train.txt``.

Counts. With ``R`` the real train count of a (dataset, class) (msu 70/210, casia 150/450, replay
140/700, oulu 720/2880, celeb 40000/40000), a list holds ``n = max(4, round(R * scale))``
videos (Python's ``round``, half to even); the shot list holds
``min(10, max(2, round(10 * scale)))`` of them, chosen by the seed, and ``test = train - shot``.
``scale=1`` gives the real counts exactly. CelebA-Spoof is scaled by ``celeb_scale``, which
defaults to ``scale / 10`` so that a demo does not write tens of thousands of images.

What the images show. Each dataset has its own subjects (procedural faces from
:mod:`fasnas.data.synth.faces`; a subject's attacks show that subject's face), its own scenes
(background clutter, light direction, strength and colour), its own capture devices
(:mod:`fasnas.data.synth.camera`: resolution, blur, colour, gamma, noise, JPEG) and its own
attack instruments (:mod:`fasnas.data.synth.attacks`: msu iPad/iPhone replays and a laser print;
casia warped and cut photos and a video replay; replay a dithered print, an iPhone and an iPad;
oulu two printers and two displays; celeb posters, A4, photo paper, PC, tablet and phone).

Difficulty target. A small CNN trained on three domains should reach a cross-domain HTER of
roughly 5-30 % on the fourth: the attack traces are learnable, but the cameras and instruments
shift between domains so that what is learnt transfers only in part. ``benchmarks/
synth_calibration.py`` measures it (leave-one-domain-out, video-level HTER at the test-EER
threshold). Last measured, at size 64: scale 0.1, seeds 0-2: M 13.7, C 12.6, I 13.8, O 17.4
(mean 14.4 %); scale 0.25, seeds 0-1: M 15.2, C 3.9, I 16.0, O 13.4 (mean 12.1 %). Single runs
vary a lot (M: 0 to 30 %), so compare means over seeds.

Determinism. Every random choice comes from a numpy Generator seeded by ``(seed, dataset,
class, video index)`` (subjects by ``(seed, dataset, subject)``), where the index is the video's
position among the dataset's full-scale videos; so the same seed gives byte-identical files,
whatever ``workers`` is, and a video looks the same at every scale.

Safety. Output goes to a temporary folder inside ``OUT`` that is renamed to ``OUT/MCIO`` at the
end; an existing non-empty ``OUT/MCIO`` (or ``OUT`` being a file) is refused, never overwritten.

Modules: :mod:`~fasnas.data.synth.plan` (names, lists, seeding), :mod:`~fasnas.data.synth.render`
(a video's frames), :mod:`~fasnas.data.synth.writer` (the output folder), the subjects
(:mod:`~fasnas.data.synth.faces`, :mod:`~fasnas.data.synth.faces_canvas`,
:mod:`~fasnas.data.synth.faces_paint`), the attacks (:mod:`~fasnas.data.synth.attacks`,
:mod:`~fasnas.data.synth.instruments`) and the cameras (:mod:`~fasnas.data.synth.camera`).
"""

from fasnas.data.synth.plan import DomainCounts, Plan, Video, plan_videos
from fasnas.data.synth.render import render_video
from fasnas.data.synth.writer import SynthSummary, synthesize

__all__ = [
    "DomainCounts",
    "Plan",
    "SynthSummary",
    "Video",
    "plan_videos",
    "render_video",
    "synthesize",
]
