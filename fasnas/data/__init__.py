"""Data layer: FLIP's on-disk layout, MCIO protocols, synthetic MCIO, preparation and caches."""

from fasnas.data.layout import FrameRecord, Layout

__all__ = ["FrameRecord", "Layout"]
