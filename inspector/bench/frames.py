"""The frames every benchmark section uses: the station's own synthetic parts."""

from __future__ import annotations

import numpy as np

from inspector.config.schema import Config
from inspector.synthetic import PartGenerator


def station_frames(config: Config, count: int) -> list[np.ndarray]:
    """The first ``count`` parts the station's first camera produces (synthetic driver settings).

    The line benchmark's camera renders the same parts in the same order, so
    the engine and prototype figures are for the frames the line sees.
    """
    cam = config.cameras[0]
    generator = PartGenerator(cam.width, cam.height, cam.defect_rate, cam.seed)
    return [generator.part(i).image for i in range(count)]
