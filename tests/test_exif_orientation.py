"""Images stored rotated with an EXIF Orientation tag (as phones write them) decode upright."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from features.faces import detect_face
from features.images import read_image

ORIENTATION = 0x0112
# EXIF orientation -> the rotation (counter-clockwise, degrees) that makes the stored pixels
# from upright ones: a viewer applying the tag turns them back
STORED_ROTATION = {3: 180, 6: 90, 8: 270}


def _save_rotated(upright: Image.Image, path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    stored = upright.rotate(STORED_ROTATION[orientation], expand=True)
    stored.save(path, quality=95, exif=exif)


@pytest.mark.parametrize("orientation", sorted(STORED_ROTATION))
def test_rotated_image_with_orientation_tag_decodes_upright(seed600_dir, tmp_path, orientation):
    source = seed600_dir / "Live" / "2.jpg"
    upright = read_image(source)
    # the frontal Haar cascade finds upright faces only (BlazeFace finds some rotated ones too)
    assert detect_face(upright, "fast") is not None
    path = tmp_path / "rotated.jpg"
    with Image.open(source) as im:
        _save_rotated(im.convert("RGB"), path, orientation)
    with Image.open(path) as stored:
        assert stored.getexif()[ORIENTATION] == orientation
        if orientation != 3:
            assert stored.size == (upright.shape[0], upright.shape[1])  # stored sideways
        assert detect_face(np.asarray(stored.convert("RGB")), "fast") is None  # none as stored
    got = read_image(path)
    assert got.shape == upright.shape
    # JPEG re-encoding changes pixels a little; a wrong orientation changes them a lot
    assert np.abs(got.astype(int) - upright.astype(int)).mean() < 3
    assert detect_face(got, "fast") is not None


def test_image_without_orientation_tag_is_unchanged(seed600_dir):
    source = seed600_dir / "Live" / "2.jpg"
    with Image.open(source) as im:
        assert ORIENTATION not in im.getexif()
        assert np.array_equal(read_image(source), np.asarray(im.convert("RGB")))
