"""Capture devices of the synthetic MCIO benchmark: what each dataset's cameras do to a scene.

Owns :class:`Camera` (one capture device: optics, resolution, colour, tone, noise, compression)
and the table :data:`CAMERAS` of the devices each synthetic dataset was "recorded" with. A
camera turns a float RGB scene (rendered at a supersampled *world* resolution) into the uint8
face crop a dataset ships:

1. optical blur and vignetting, then point-sampling down to the device's *native* resolution
   (no anti-aliasing filter, so fine periodic patterns such as screen pixels alias into moire);
2. white balance (colour temperature), exposure, saturation, contrast and gamma;
3. sensor noise (signal-dependent shot noise plus read noise) and optional sharpening;
4. JPEG compression at the device's quality (``cv2.imencode`` then decode);
5. upsampling to the crop size, as a face aligner resizes every crop to a fixed size.

Devices differ per dataset the way the real ones do (a 320x240 webcam in Replay-Attack, three
quality levels in CASIA-FASD, six smartphones in OULU-NPU), which is the domain shift of MCIO.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Camera:
    """One capture device.

    Attributes:
        native: Native resolution as a fraction of the crop size (0.4 = a low-res webcam).
        blur: Optical blur sigma in native pixels.
        white_balance: Per-channel gains (R, G, B); warm cameras boost R, cool ones B.
        exposure: Global gain.
        saturation: Chroma gain around the per-pixel grey.
        contrast: Contrast around mid grey.
        gamma: Tone-curve exponent applied to the linear-ish scene (``out = in ** (1/gamma)``).
        noise: Read-noise sigma (on ``[0, 1]`` values).
        shot: Shot-noise factor (sigma grows with ``sqrt(signal)``).
        sharpen: Unsharp-mask amount (phones over-sharpen).
        vignette: Corner darkening.
        jpeg: Range of JPEG qualities.
        jitter: Relative per-video variation of the gains and noise.
    """

    native: float = 0.8
    blur: float = 0.6
    white_balance: RGB = (1.0, 1.0, 1.0)
    exposure: float = 1.0
    saturation: float = 1.0
    contrast: float = 1.0
    gamma: float = 1.0
    noise: float = 0.01
    shot: float = 0.01
    sharpen: float = 0.0
    vignette: float = 0.1
    jpeg: tuple[int, int] = (80, 95)
    jitter: float = 0.05

    def sample(self, rng: np.random.Generator) -> Camera:
        """This device with its per-video variation drawn (auto exposure, auto white balance)."""
        j = self.jitter
        gains = np.array(self.white_balance) * (1 + rng.normal(0, j * 0.5, 3))
        return replace(
            self,
            white_balance=(float(gains[0]), float(gains[1]), float(gains[2])),
            exposure=self.exposure * float(1 + rng.normal(0, j)),
            saturation=self.saturation * float(1 + rng.normal(0, j)),
            noise=self.noise * float(rng.uniform(0.8, 1.25)),
            jpeg=(int(rng.integers(self.jpeg[0], self.jpeg[1] + 1)),) * 2,
        )


def capture(scene: np.ndarray, camera: Camera, size: int, rng: np.random.Generator) -> np.ndarray:
    """Record ``scene`` (float RGB, any square size) with ``camera`` into a size x size uint8 crop.

    Args:
        scene: The world image, float32 RGB, nominally in ``[0, 1]`` (highlights may exceed 1).
        camera: A device, usually after :meth:`Camera.sample`.
        size: Output crop size in pixels.
        rng: Source of the sensor noise.
    """
    native = max(16, int(round(size * camera.native)))
    world = scene.shape[0]
    sigma = camera.blur * world / native
    image = cv2.GaussianBlur(scene, (0, 0), sigma) if sigma > 0.3 else scene
    image = cv2.resize(image, (native, native), interpolation=cv2.INTER_LINEAR)
    if camera.vignette:
        coords = np.linspace(-1, 1, native, dtype=np.float32)
        radius2 = coords[None, :] ** 2 + coords[:, None] ** 2
        image = image * (1 - camera.vignette * radius2 / 2)[..., None]
    image = image * (np.array(camera.white_balance, np.float32) * camera.exposure)
    grey = image.mean(axis=2, keepdims=True)
    image = grey + (image - grey) * camera.saturation
    image = np.clip(image, 0, None) ** (1 / camera.gamma)
    image = 0.5 + (image - 0.5) * camera.contrast
    sigma_px = np.sqrt(camera.noise**2 + camera.shot**2 * np.clip(image, 0, 1))
    image = image + sigma_px * rng.standard_normal(image.shape, np.float32)
    if camera.sharpen:
        soft = cv2.GaussianBlur(image, (0, 0), 1.0)
        image = image + camera.sharpen * (image - soft)
    encoded = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    ok, buffer = cv2.imencode(
        ".jpg",
        cv2.cvtColor(encoded, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg[0]],
    )
    if not ok:  # pragma: no cover - cv2 always encodes a uint8 RGB image
        raise RuntimeError("cv2.imencode failed on a synthetic frame")
    decoded = cv2.cvtColor(cv2.imdecode(buffer, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if native == size:
        return decoded
    return cv2.resize(decoded, (size, size), interpolation=cv2.INTER_LINEAR)


CAMERAS: dict[str, Camera] = {
    # MSU-MFSD: a Nexus 5 phone (720x480) and a MacBook Air webcam (640x480), office light
    "msu/android": Camera(
        native=0.85,
        blur=0.55,
        white_balance=(0.96, 1.0, 1.08),
        saturation=1.05,
        gamma=1.05,
        noise=0.012,
        shot=0.02,
        sharpen=0.6,
        jpeg=(80, 92),
        vignette=0.15,
    ),
    "msu/laptop": Camera(
        native=0.7,
        blur=0.7,
        white_balance=(1.08, 1.0, 0.9),
        saturation=0.9,
        gamma=1.0,
        noise=0.02,
        shot=0.025,
        jpeg=(75, 90),
        vignette=0.25,
    ),
    # CASIA-FASD: an old USB webcam, a newer USB webcam and a Sony NEX-5 (high resolution)
    "casia/low": Camera(
        native=0.5,
        blur=0.8,
        white_balance=(1.05, 1.0, 0.92),
        saturation=0.85,
        contrast=0.9,
        gamma=0.95,
        noise=0.03,
        shot=0.03,
        jpeg=(60, 75),
        vignette=0.3,
    ),
    "casia/normal": Camera(
        native=0.7,
        blur=0.65,
        white_balance=(1.02, 1.0, 0.97),
        saturation=0.95,
        gamma=1.0,
        noise=0.02,
        shot=0.02,
        jpeg=(70, 85),
        vignette=0.2,
    ),
    "casia/high": Camera(
        native=1.0,
        blur=0.5,
        white_balance=(1.0, 1.0, 1.0),
        saturation=1.1,
        contrast=1.05,
        gamma=1.05,
        noise=0.006,
        shot=0.01,
        jpeg=(88, 96),
        vignette=0.05,
    ),
    # Replay-Attack: a MacBook webcam at 320x240, strongly upsampled, warm and noisy
    "replay/webcam": Camera(
        native=0.42,
        blur=0.8,
        white_balance=(1.12, 1.0, 0.85),
        saturation=0.95,
        contrast=1.1,
        gamma=0.95,
        noise=0.025,
        shot=0.03,
        jpeg=(70, 85),
        vignette=0.2,
    ),
    # OULU-NPU: six smartphones, full-HD front cameras with their own colour science
    "oulu/phone1": Camera(
        native=0.95,
        blur=0.55,
        white_balance=(1.0, 1.0, 1.02),
        saturation=1.1,
        gamma=1.1,
        noise=0.01,
        shot=0.015,
        sharpen=0.8,
        jpeg=(85, 95),
    ),
    "oulu/phone2": Camera(
        native=0.9,
        blur=0.6,
        white_balance=(1.06, 1.0, 0.95),
        saturation=1.0,
        gamma=1.05,
        noise=0.012,
        shot=0.02,
        sharpen=0.5,
        jpeg=(85, 95),
    ),
    "oulu/phone3": Camera(
        native=1.0,
        blur=0.5,
        white_balance=(0.95, 1.0, 1.06),
        saturation=1.15,
        gamma=1.1,
        contrast=1.05,
        noise=0.008,
        shot=0.015,
        sharpen=1.0,
        jpeg=(88, 96),
    ),
    "oulu/phone4": Camera(
        native=0.8,
        blur=0.65,
        white_balance=(1.04, 1.02, 0.95),
        saturation=0.95,
        gamma=1.0,
        noise=0.015,
        shot=0.02,
        sharpen=0.4,
        jpeg=(80, 92),
    ),
    "oulu/phone5": Camera(
        native=0.9,
        blur=0.55,
        white_balance=(1.0, 1.0, 1.0),
        saturation=1.05,
        gamma=1.15,
        noise=0.012,
        shot=0.015,
        sharpen=0.7,
        jpeg=(85, 95),
    ),
    "oulu/phone6": Camera(
        native=0.85,
        blur=0.6,
        white_balance=(1.08, 0.98, 0.94),
        saturation=1.0,
        gamma=1.05,
        noise=0.014,
        shot=0.02,
        sharpen=0.6,
        jpeg=(82, 94),
    ),
    # CelebA-Spoof: thousands of phones; one broad device, varied heavily per image
    "celeb/phone": Camera(
        native=0.75,
        blur=0.65,
        saturation=1.0,
        gamma=1.05,
        noise=0.015,
        shot=0.02,
        sharpen=0.4,
        jpeg=(70, 95),
        vignette=0.15,
        jitter=0.12,
    ),
}
"""Capture devices by ``<dataset>/<device>``."""
