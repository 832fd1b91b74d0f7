"""The ONNX lift predictor, called directly: loading checks, the feature matrix, the fallback,
and the dataset score (tests/test_operator_validation.py has the operator-facing cases)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from datalint import predict
from datalint.features_names import FEATURE_NAMES
from datalint.predict import LiftPredictor, PredictorError, dataset_lift_score

onnx_models = pytest.importorskip("tests.onnx_models", reason="needs the onnx package")
onnx = pytest.importorskip("onnx")
helper = onnx.helper


def _with_metadata(path: Path, value: str | None, width: int = 2) -> Path:
    """Column 0 as the lift, with raw ``datalint.features`` metadata (None: no entry)."""
    onnx_models.column(path, 0, ["adv_std", "pass_rate"][:width] if width <= 2 else None)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    if value is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = "datalint.features", value
    path.write_bytes(model.SerializeToString())
    return path


def test_without_a_predictor_file_it_falls_back_to_adv_std(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(predict, "pretrained_dir", lambda: tmp_path)
    fallback = LiftPredictor.load(None)
    assert fallback.is_fallback
    assert (fallback.name, fallback.predictor_name) == ("adv_std fallback", "adv_std fallback")
    assert fallback.feature_order == ("adv_std",) and fallback.metadata == {}
    out = fallback.predict([{"adv_std": 0.5}, {"adv_std": None}, {}])
    assert out.dtype == np.float64
    assert out[0] == 0.5 and math.isnan(out[1]) and math.isnan(out[2])
    assert fallback.predict([]).tolist() == []


def test_the_default_path_is_the_shipped_file() -> None:
    assert predict.default_predictor_path() == predict.pretrained_dir() / "lift-predictor.onnx"
    assert predict.default_predictor_path().is_file()


def test_an_explicit_path_must_exist_and_be_onnx(tmp_path: Path) -> None:
    with pytest.raises(PredictorError, match=r"missing.onnx: predictor file not found$"):
        LiftPredictor.load(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(PredictorError, match=r"junk.onnx: not a readable ONNX model \("):
        LiftPredictor.load(str(junk))


def test_a_loaded_predictor_names_its_file_and_keeps_its_metadata(tmp_path: Path) -> None:
    path = onnx_models.column(tmp_path / "p.onnx", 1, ["adv_std", "pass_rate"])
    loaded = LiftPredictor.load(path)
    assert not loaded.is_fallback
    assert loaded.name == "p.onnx" and loaded.predictor_name == "p.onnx"
    assert loaded.metadata == {"datalint.features": '["adv_std", "pass_rate"]'}
    out = loaded.predict([{"adv_std": 0.5, "pass_rate": 0.25}, {"adv_std": 1.0, "pass_rate": 2.0}])
    assert out.dtype == np.float64 and out.shape == (2,)
    assert out.tolist() == [0.25, 2.0]


def test_no_metadata_means_the_shipped_feature_order(tmp_path: Path) -> None:
    path = onnx_models.column(tmp_path / "p.onnx", 3, None)
    loaded = LiftPredictor.load(path)
    assert loaded.feature_order == FEATURE_NAMES
    row = {name: float(i) for i, name in enumerate(FEATURE_NAMES)}
    assert loaded.predict([row]).tolist() == [3.0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "metadata datalint.features is not JSON"),
        ('{"adv_std": 1}', "metadata datalint.features must be a list of names"),
        ("[]", "metadata datalint.features must be a list of names"),
        ('["adv_std", 3]', "metadata datalint.features must be a list of names"),
    ],
)
def test_bad_feature_metadata_is_refused(tmp_path: Path, value: str, message: str) -> None:
    path = _with_metadata(tmp_path / "m.onnx", value)
    with pytest.raises(PredictorError) as err:
        LiftPredictor.load(path)
    assert str(err.value) == f"{path}: {message}"


def test_an_unknown_feature_name_is_named(tmp_path: Path) -> None:
    path = _with_metadata(tmp_path / "m.onnx", '["adv_std", "colour"]')
    with pytest.raises(PredictorError) as err:
        LiftPredictor.load(path)
    assert (
        str(err.value)
        == f"{path}: metadata datalint.features names 'colour', not a datalint feature"
    )


def test_an_empty_metadata_entry_means_the_shipped_order(tmp_path: Path) -> None:
    path = _with_metadata(tmp_path / "m.onnx", "", width=99)
    assert LiftPredictor.load(path).feature_order == FEATURE_NAMES


def test_width_and_rank_are_checked_against_the_metadata(tmp_path: Path) -> None:
    path = _with_metadata(tmp_path / "m.onnx", '["adv_std", "pass_rate", "len_mean"]')
    with pytest.raises(PredictorError) as err:
        LiftPredictor.load(path)
    assert str(err.value) == f"{path}: model takes 2 features but its metadata names 3"
    rank3 = tmp_path / "r.onnx"
    node = helper.make_node("ReduceSum", ["features", "axes"], ["variable"], keepdims=0)
    axes = helper.make_tensor("axes", onnx.TensorProto.INT64, [2], [1, 2])
    inp = helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, ["N", 23, 1])
    out = helper.make_tensor_value_info("variable", onnx.TensorProto.FLOAT, ["N"])
    onnx_models._save(rank3, [node], [inp], [out], None, [axes])
    with pytest.raises(PredictorError) as err:
        LiftPredictor.load(rank3)
    assert str(err.value) == f"{rank3}: model input has rank 3, expected 2"


def test_a_symbolic_width_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "s.onnx"
    node = helper.make_node("Gather", ["features", "idx"], ["variable"], axis=1)
    idx = helper.make_tensor("idx", onnx.TensorProto.INT64, [1], [0])
    inp = helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, ["N", "F"])
    out = helper.make_tensor_value_info("variable", onnx.TensorProto.FLOAT, ["N", 1])
    onnx_models._save(path, [node], [inp], [out], ["pass_rate"], [idx])
    assert LiftPredictor.load(path).predict([{"pass_rate": 0.75}]).tolist() == [0.75]


def test_outputs_must_be_numbers_one_per_cohort(tmp_path: Path) -> None:
    flat = onnx_models.constant(tmp_path / "flat.onnx", 0.5, out_shape="flat")
    assert LiftPredictor.load(flat).predict([{}, {}, {}]).tolist() == [0.5, 0.5, 0.5]
    wide = onnx_models.constant(tmp_path / "wide.onnx", 0.5, out_shape="wide")
    with pytest.raises(PredictorError) as err:
        LiftPredictor.load(wide)
    assert str(err.value) == (
        f"{wide}: model outputs shape [2, 23] for 2 cohorts, expected one lift per cohort "
        "([2] or [2, 1])"
    )
    as_text = tmp_path / "t.onnx"
    node = helper.make_node("Cast", ["features"], ["variable"], to=onnx.TensorProto.BOOL)
    inp = onnx_models._features_input()
    out = helper.make_tensor_value_info("variable", onnx.TensorProto.BOOL, ["N", 23])
    onnx_models._save(as_text, [node], [inp], [out], list(FEATURE_NAMES))
    with pytest.raises(PredictorError) as err:
        LiftPredictor.load(as_text)
    assert str(err.value) == f"{as_text}: model outputs bool, expected numbers"


def test_infinite_predictions_name_the_cohorts(tmp_path: Path) -> None:
    path = onnx_models.column(tmp_path / "p.onnx", 0, ["adv_std"])
    loaded = LiftPredictor.load(path)
    rows = [{"adv_std": v} for v in (0.1, math.inf, 0.2, None, 0.3, None, None, None, None)]
    with pytest.raises(PredictorError) as err:
        loaded.predict(rows)
    assert str(err.value) == (
        "p.onnx: predicted NaN or infinity for 6 of 9 cohorts (number 2, 4, 6, 7, 8 in report "
        "order); a lift predictor must give every cohort a number"
    )


def test_the_matrix_follows_the_feature_order_and_marks_missing_as_nan() -> None:
    p = LiftPredictor(None, ("b", "a"), "x")
    x = p.matrix([{"a": 1.0, "b": 2}, {"a": None}, {}])
    assert x.dtype == np.float32 and x.shape == (3, 2)
    assert x[0].tolist() == [2.0, 1.0]
    assert all(math.isnan(v) for v in x[1:].ravel())
    assert p.matrix([]).shape == (0, 2)


def test_a_card_without_features_or_absent_is_fine(tmp_path: Path) -> None:
    path = onnx_models.column(tmp_path / "p.onnx", 0, ["adv_std", "pass_rate"])
    assert LiftPredictor.load(path).feature_order == ("adv_std", "pass_rate")
    (tmp_path / "p.json").write_text('{"name": "p"}')
    assert LiftPredictor.load(path).feature_order == ("adv_std", "pass_rate")
    (tmp_path / "p.json").write_text('{"features": ["pass_rate", "adv_std"]}')  # same set
    assert LiftPredictor.load(path).feature_order == ("adv_std", "pass_rate")
    for card in ('{"features": "adv_std"}', '["adv_std"]'):
        (tmp_path / "p.json").write_text(card)
        with pytest.raises(PredictorError, match=r"p\.json: "):
            LiftPredictor.load(path)


def test_dataset_lift_score_weights_by_size_and_skips_nan() -> None:
    # (0.1 * 8 + 0.4 * 2) / 10
    assert dataset_lift_score([0.1, 0.4], [8, 2]) == pytest.approx(0.16)
    assert dataset_lift_score([0.1, math.nan, 0.4], [8, 5, 2]) == pytest.approx(0.16)
    assert dataset_lift_score([0.1, 0.9], [4, 0]) == pytest.approx(0.1)
    assert dataset_lift_score([math.nan], [3]) is None
    assert dataset_lift_score([0.5], [0]) is None  # no items: no score
    assert dataset_lift_score([], []) is None
    assert LiftPredictor(None, ("adv_std",), "x").dataset_lift_score([0.2, 0.4], [1, 3]) == (
        pytest.approx(0.35)
    )
    with pytest.raises(ValueError) as err:
        dataset_lift_score([0.1], [1, 2])
    assert str(err.value) == "predictions and sizes differ in length"


def test_an_installed_wheel_keeps_its_predictor_under_data(tmp_path, monkeypatch) -> None:
    packaged = tmp_path / "_data" / "pretrained"
    packaged.mkdir(parents=True)
    monkeypatch.setattr(predict.resources, "files", lambda package: tmp_path)
    assert predict.pretrained_dir() == packaged
    assert isinstance(predict.pretrained_dir(), Path)
    (tmp_path / "_data" / "pretrained").rmdir()
    assert predict.pretrained_dir() == Path(predict.__file__).resolve().parents[2] / "pretrained"
