"""BlazeFace detector (features.blazeface) and its use by FaceCropper, on real images."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import features.faces as faces
from features import blazeface
from features.faces import FaceCropper, clear_memo, detect_face, detect_faces, eye_angle
from features.images import read_image
from features.records import BONAFIDE, Presentation, file_sha256


@pytest.fixture(autouse=True)
def _fresh_memo():
    clear_memo()
    yield
    clear_memo()


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih / (aw * ah + bw * bh - iw * ih)


@pytest.fixture(scope="module")
def real_images(seed600_dir: Path, nuaa_dir: Path) -> list[np.ndarray]:
    """20 seed600 images (both classes, many sizes) and 10 NUAA frames."""
    seed = [seed600_dir / c / f"{n}.jpg" for c in ("Live", "Spoof") for n in range(7, 301, 30)]
    nuaa = (
        sorted((nuaa_dir / "live").glob("*.jpg"))[::75]
        + sorted((nuaa_dir / "spoof").glob("*.jpg"))[::75]
    )
    return [read_image(p) for p in seed + nuaa]


@pytest.fixture(scope="module")
def face_image(seed600_dir: Path) -> np.ndarray:
    """A bona fide seed600 photo with one upright face."""
    return read_image(seed600_dir / "Live" / "121.jpg")


@pytest.mark.parametrize("model", list(blazeface.MODELS))
def test_anchor_count_matches_the_model_outputs(model):
    size = blazeface.MODELS[model].size
    regressors, logits = blazeface.infer(np.zeros((1, size, size, 3), np.float32), model)
    anchors = blazeface.anchors(model)
    assert regressors.shape == (len(anchors), 16)
    assert logits.shape == (len(anchors),)
    assert anchors.min() > 0 and anchors.max() < 1


def test_boxes_agree_with_haar_thorough_where_both_find_a_face(real_images):
    pairs = []
    for im in real_images:
        blaze, haar = detect_face(im, "blazeface"), detect_face(im, "thorough")
        if blaze is not None and haar is not None:
            pairs.append(_iou(blaze, haar))
    assert len(pairs) >= 20
    assert np.mean(np.array(pairs) > 0.5) >= 0.8  # measured: 29 of 30 pairs over 0.5 on seed600


def test_eye_keypoints_lie_inside_the_box_in_left_right_order(real_images):
    found = [f for im in real_images for f in blazeface.detect(im)[:1]]
    assert len(found) >= 0.9 * len(real_images)
    for (x, y, w, h), score, kp in found:
        assert kp.shape == (6, 2) and 0.5 <= score <= 1
        eyes = kp[:2]
        assert np.all((eyes[:, 0] > x) & (eyes[:, 0] < x + w))
        assert np.all((eyes[:, 1] > y) & (eyes[:, 1] < y + h))
        # the person's right eye is on the image's left; the nose is between the eyes
        right_eye, left_eye, nose = kp[0], kp[1], kp[2]
        assert right_eye[0] < nose[0] < left_eye[0]
        assert nose[1] > min(right_eye[1], left_eye[1])


def test_alignment_levels_the_eyes_of_a_rotated_face(face_image):
    h, w = face_image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)  # 20 degrees anticlockwise
    tilted = cv2.warpAffine(face_image, turn, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    (upright,) = detect_faces(face_image, "blazeface")
    own = eye_angle(upright.keypoints)  # the face's own tilt: about 4 degrees
    (face,) = detect_faces(tilted, "blazeface")
    assert eye_angle(face.keypoints) - own == pytest.approx(-20, abs=5)

    def crop_angle(align: bool) -> float:
        crop = FaceCropper(size=256, detector="blazeface", align=align).crop_array(tilted)
        assert crop.face_found
        return eye_angle(blazeface.detect(crop.crop)[0].keypoints)

    assert crop_angle(False) - own == pytest.approx(-20, abs=5)
    # levelled to within the keypoints' error (measured on 160 rotated seed600 and NUAA faces:
    # median 1.7, 90th percentile 4.7 degrees)
    assert abs(crop_angle(True)) < 6


def test_several_faces_crop_the_largest_and_count_the_others(face_image, seed600_dir):
    other = read_image(seed600_dir / "Live" / "1.jpg")  # another person, with a smaller face
    small = cv2.resize(other, (other.shape[1] * 500 // other.shape[0], 500))
    pad = np.zeros((face_image.shape[0] - small.shape[0], small.shape[1], 3), np.uint8)
    both = np.hstack([np.vstack([small, pad]), face_image])
    found = detect_faces(both, "blazeface")
    assert len(found) == 2
    (x, y, w, h), _, _ = found[0]  # the larger face comes first: the right-hand image's
    (ref,) = detect_faces(face_image, "blazeface")
    assert _iou((x - small.shape[1], y, w, h), ref.box) > 0.7
    cropper = FaceCropper(size=64, detector="blazeface")
    res = cropper.crop_array(both)
    assert (res.face_found, res.n_faces) == (True, 2)
    large, little = cropper.crop_array(face_image), cropper.crop_array(small)
    assert (large.n_faces, little.n_faces) == (1, 1)

    def diff(a, b) -> float:
        return float(np.abs(a.crop.astype(int) - b.crop).mean())

    assert diff(res, large) < 0.5 * diff(res, little)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((8, 8, 3), np.uint8),
        np.zeros((240, 320, 3), np.uint8),
        np.full((8000, 60, 3), 128, np.uint8),
        np.zeros((300, 200), np.uint8),
        np.zeros((300, 200, 4), np.uint8),
    ],
    ids=["8x8", "black", "8000x60", "grey", "rgba"],
)
def test_images_without_a_face_give_the_centre_crop(image):
    assert blazeface.detect(image, tiles=True) == []
    res = FaceCropper(size=32, detector="blazeface", align=True).crop_array(image)
    assert (res.face_found, res.source, res.n_faces) == (False, "centre", 0)
    assert res.crop.shape == (32, 32, 3)


def test_grey_rgba_and_huge_images_of_a_face_are_detected(face_image):
    (ref,) = blazeface.detect(face_image)
    grey = cv2.cvtColor(face_image, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([face_image, np.full(face_image.shape[:2], 255, np.uint8)])
    for image in (grey, rgba):
        (face,) = blazeface.detect(image)
        assert _iou(face.box, ref.box) > 0.8
    huge = cv2.resize(face_image, (8000, 8000 * face_image.shape[0] // face_image.shape[1]))
    (face,) = blazeface.detect(huge)
    f = 8000 / face_image.shape[1]
    assert _iou(face.box, [v * f for v in ref.box]) > 0.8


def test_non_uint8_or_malformed_arrays_are_refused_clearly():
    with pytest.raises(ValueError, match="uint8"):
        blazeface.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(64, 64, 2\)"):
        blazeface.detect(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(ValueError, match="unknown BlazeFace model 'tiny'"):
        blazeface.detect(np.zeros((64, 64, 3), np.uint8), "tiny")


def test_tiles_find_the_face_of_a_tall_capture(seed600_dir):
    # A 337x600 print attack whose face the letterboxed whole image scores below 0.5.
    tall = read_image(seed600_dir / "Spoof" / "215.jpg")
    assert tall.shape[:2] == (600, 337)
    assert blazeface.detect(tall) == []
    (face,) = blazeface.detect(tall, tiles=True)
    assert face.score >= 0.5
    assert 0.15 * 337 < face.box[2] < 337


def test_fallback_score_applies_only_where_nothing_reaches_the_threshold(seed600_dir):
    # 337x600 print attack: best score under 0.5 in the whole image and in the tiles
    tall = read_image(seed600_dir / "Spoof" / "299.jpg")
    assert blazeface.detect(tall, tiles=True) == []
    found = blazeface.detect(tall, tiles=True, fallback_score=0.4)
    assert found and all(0.4 <= f.score < 0.5 for f in found)
    (whole,) = blazeface.detect(tall, fallback_score=0.4)
    assert found[0].box == whole.box  # best first: the whole image's face (scored 0.48)
    # where a face reaches 0.5, weaker candidates (down to 0.2) are not returned with it
    upright = read_image(seed600_dir / "Live" / "121.jpg")
    (strong,) = blazeface.detect(upright)
    (face,) = blazeface.detect(upright, fallback_score=0.2)
    assert _iou(face.box, strong.box) > 0.95  # weaker candidates still join the weighted mean


def test_threads_get_their_own_interpreter_and_the_same_faces(real_images):
    serial = [[f.box for f in blazeface.detect(im)] for im in real_images]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda im: [f.box for f in blazeface.detect(im)], real_images))
    assert threaded == serial


def test_plain_nms_matches_opencv():
    rng = np.random.default_rng(0)
    xy = rng.integers(0, 100, (60, 2)).astype(float)
    wh = rng.integers(10, 40, (60, 2)).astype(float)
    scores = rng.uniform(0.1, 1, 60)
    corners = np.hstack([xy, xy + wh])
    ours = [i for i, _ in blazeface.nms(corners, scores, 0.3, weighted=False)]
    theirs = cv2.dnn.NMSBoxes(np.hstack([xy, wh]).astype(int).tolist(), scores.tolist(), 0.0, 0.3)
    assert sorted(ours) == sorted(np.asarray(theirs).ravel().tolist())
    weighted = blazeface.nms(corners, scores, 0.3, weighted=True)
    assert [i for i, _ in weighted] == ours
    for i, wts in weighted:
        assert wts.sum() == pytest.approx(1) and wts[i] == wts.max()


def test_cache_key_names_detector_model_and_alignment(tmp_path, monkeypatch):
    def key(**kw) -> str:
        return FaceCropper(cache_dir=tmp_path, **kw).param_key()

    keys = {
        key(detector="fast"),
        key(detector="thorough"),
        key(detector="blazeface"),
        key(detector="blazeface-full"),
        key(detector="blazeface", align=True),
    }
    assert len(keys) == 5
    assert key(detector="fast", align=True) == key(detector="fast")  # Haar has no eyes
    before = key(detector="blazeface")
    monkeypatch.setattr(faces.blazeface, "model_id", lambda model: "other-weights")
    assert key(detector="blazeface") != before
    with pytest.raises(ValueError, match="align"):
        FaceCropper(align="yes").fit(None)


def test_face_count_survives_the_disk_cache(tmp_path, face_image):
    path = tmp_path / "face.png"
    Image.fromarray(face_image).save(path)
    rec = Presentation(path.name, path, BONAFIDE, file_sha256(path))
    cropper = FaceCropper(size=48, detector="blazeface", cache_dir=tmp_path / "cache")
    first = cropper.crop_one(rec)
    clear_memo()
    again = cropper.crop_one(rec)
    assert (again.n_faces, again.face_found, again.source) == (1, True, "detector")
    np.testing.assert_array_equal(again.crop, first.crop)


def test_letterbox_is_bilinear_centred_and_scaled_to_plus_minus_one(face_image):
    # MediaPipe's OpenCV image-to-tensor converter resizes with INTER_LINEAR
    h, w = face_image.shape[:2]  # 450x600 landscape: 128x96 inside the 128x128 input
    x, f, px, py = blazeface._letterbox(face_image, 128)
    assert (x.shape, x.dtype, f, px, py) == ((1, 128, 128, 3), np.float32, 128 / w, 0, 16)
    small = cv2.resize(face_image, (128, 96), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(x[0, 16:112], small / 127.5 - 1, atol=1e-6)
    assert np.all(x[0, :16] == -1) and np.all(x[0, 112:] == -1)


def test_the_letterbox_names_the_crop_cache(monkeypatch):
    key = FaceCropper(detector="blazeface").param_key()
    monkeypatch.setattr(blazeface, "LETTERBOX", "area")
    assert FaceCropper(detector="blazeface").param_key() != key
