"""The attack instruments of the synthetic MCIO benchmark, per dataset.

Owns :data:`INSTRUMENTS`: the printers and screens each synthetic dataset's attacks were made
with, keyed ``<dataset>/<instrument>`` as the planned videos name them
(:attr:`~fasnas.data.synth.plan.Video.instrument`). The mechanisms they parametrise are in
:mod:`fasnas.data.synth.attacks`; the instruments differ between datasets the way the real ones
do, which is part of the domain shift of MCIO.
"""

from __future__ import annotations

from fasnas.data.synth.attacks import Instrument, Printer, Screen

INSTRUMENTS: dict[str, Instrument] = {
    # MSU-MFSD: iPad Air and iPhone 5S replays, A3 prints from an HP colour laser printer
    "msu/ipad_video": Screen(
        pitch=2,
        gamma=1.05,
        contrast=0.97,
        black=0.03,
        white_point=(0.97, 1.0, 1.05),
        extent=(1.25, 1.9),
        bezel=(0.08, 0.16),
        glare=0.2,
        banding=0.01,
    ),
    "msu/iphone_video": Screen(
        pitch=2,
        gamma=1.2,
        contrast=0.95,
        black=0.04,
        white_point=(0.96, 1.0, 1.06),
        extent=(0.8, 1.2),
        bezel=(0.1, 0.2),
        bezel_colour=(0.85, 0.85, 0.86),
        glare=0.35,
        banding=0.0,
    ),
    "msu/printed_photo": Printer(
        halftone="dots",
        period=3.0,
        gamut=0.8,
        black=0.08,
        white=0.92,
        paper=(0.98, 0.97, 0.95),
        margin=(0.05, 0.3),
        extent=(0.95, 1.7),
        texture=0.02,
    ),
    # CASIA-FASD: warped photos, photos with the eyes cut out, and an iPad video
    "casia/warped_photo": Printer(
        halftone="dots",
        period=3.0,
        gamut=0.65,
        black=0.14,
        white=0.88,
        extent=(0.85, 1.5),
        margin=(0.0, 0.25),
        bend=(0.3, 0.7),
        texture=0.03,
    ),
    "casia/cut_photo": Printer(
        halftone="dots",
        period=3.0,
        gamut=0.65,
        black=0.14,
        white=0.88,
        extent=(0.85, 1.5),
        margin=(0.0, 0.25),
        bend=(0.0, 0.2),
        texture=0.03,
        cut_eyes=True,
    ),
    "casia/video": Screen(
        pitch=3,
        gamma=1.2,
        contrast=0.85,
        black=0.09,
        white_point=(0.94, 1.0, 1.1),
        extent=(1.2, 1.8),
        bezel=(0.06, 0.12),
        glare=0.35,
        banding=0.06,
    ),
    # Replay-Attack: prints on A4 (laser), an iPhone 3GS and an iPad (1024x768)
    "replay/print": Printer(
        halftone="dither",
        period=4.0,
        gamut=0.6,
        black=0.15,
        white=0.86,
        paper=(0.97, 0.97, 0.95),
        extent=(0.9, 1.6),
        margin=(0.05, 0.35),
        texture=0.035,
    ),
    "replay/mobile": Screen(
        pitch=3,
        gamma=1.3,
        contrast=1.0,
        black=0.05,
        white_point=(0.92, 1.0, 1.12),
        extent=(0.8, 1.2),
        bezel=(0.12, 0.22),
        glare=0.4,
        banding=0.05,
    ),
    "replay/highdef": Screen(
        pitch=4,
        gamma=1.15,
        contrast=0.9,
        black=0.06,
        white_point=(0.95, 1.0, 1.08),
        extent=(1.2, 1.8),
        bezel=(0.08, 0.15),
        glare=0.3,
        banding=0.03,
    ),
    # OULU-NPU: two printers, a MacBook 13" and a Dell 1905FP monitor
    "oulu/print1": Printer(
        halftone="dither",
        period=2.0,
        gamut=0.85,
        black=0.08,
        white=0.92,
        hue_shift=0.03,
        extent=(1.2, 1.8),
        margin=(0.0, 0.3),
        texture=0.02,
    ),
    "oulu/print2": Printer(
        halftone="dots",
        period=3.5,
        gamut=0.7,
        black=0.12,
        white=0.9,
        hue_shift=0.06,
        extent=(1.2, 1.8),
        margin=(0.0, 0.3),
        texture=0.03,
    ),
    "oulu/display1": Screen(
        pitch=2,
        gamma=1.1,
        contrast=0.95,
        black=0.03,
        white_point=(0.97, 1.0, 1.04),
        extent=(1.3, 1.9),
        bezel=(0.05, 0.1),
        glare=0.15,
        banding=0.01,
    ),
    "oulu/display2": Screen(
        pitch=4,
        gamma=1.25,
        contrast=0.85,
        black=0.09,
        white_point=(0.93, 1.0, 1.1),
        extent=(1.3, 1.9),
        bezel=(0.08, 0.14),
        bezel_colour=(0.15, 0.15, 0.16),
        glare=0.2,
        banding=0.04,
    ),
    # CelebA-Spoof: posters, A4 prints, photo paper, PC, tablet and phone screens
    "celeb/poster": Printer(halftone="dots", period=5.0, gamut=0.7, extent=(1.4, 2.2)),
    "celeb/a4": Printer(halftone="dither", period=3.0, gamut=0.65, extent=(1.1, 1.7)),
    "celeb/photo": Printer(
        halftone="none", gamut=0.9, black=0.05, white=0.93, extent=(1.0, 1.5), gloss=0.35
    ),
    "celeb/pc": Screen(pitch=4, gamma=1.2, extent=(1.3, 2.0), glare=0.2),
    "celeb/pad": Screen(pitch=3, gamma=1.15, extent=(1.1, 1.7), glare=0.3),
    "celeb/phone": Screen(pitch=2, gamma=1.2, extent=(0.9, 1.3), bezel=(0.1, 0.2), glare=0.35),
}
"""Attack instruments by ``<dataset>/<instrument>``."""
