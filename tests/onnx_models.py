"""Small hand-built ONNX lift predictors (good and broken) for the predictor validation tests.

Built with the ``onnx`` package (in the 'calibrate' and 'dev' extras); each writes one file.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from datalint.features_names import FEATURE_NAMES

WIDTH = len(FEATURE_NAMES)


def _save(
    path: Path,
    nodes: list,
    inputs: list,
    outputs: list,
    features: list[str] | None = None,
    initializers: list | None = None,
) -> Path:
    graph = helper.make_graph(nodes, "lift", inputs, outputs, initializer=initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if features is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = "datalint.features", json.dumps(features)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def _features_input(width: int | str = WIDTH, elem: int = TensorProto.FLOAT):
    return helper.make_tensor_value_info("features", elem, ["N", width])


def constant(path: Path, value: float, *, out_shape: str = "column") -> Path:
    """A predictor that gives every cohort ``value`` (NaN-safe: it never reads the features).

    ``out_shape``: "column" -> [N, 1] (what onnxmltools writes), "flat" -> [N], "wide" -> [N, 23].
    """
    nodes = [helper.make_node("Shape", ["features"], ["shape"])]
    if out_shape == "wide":
        nodes.append(helper.make_node("Identity", ["shape"], ["out_shape"]))
        dims: list[int | str] = ["N", WIDTH]
    else:
        nodes.append(helper.make_node("Slice", ["shape", "zero", "one"], ["rows"]))
        if out_shape == "column":
            nodes.append(helper.make_node("Concat", ["rows", "one"], ["out_shape"], axis=0))
            dims = ["N", 1]
        else:
            nodes.append(helper.make_node("Identity", ["rows"], ["out_shape"]))
            dims = ["N"]
    nodes.append(
        helper.make_node(
            "ConstantOfShape",
            ["out_shape"],
            ["variable"],
            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [value]),
        )
    )
    inits = [
        helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
    ]
    out = helper.make_tensor_value_info("variable", TensorProto.FLOAT, dims)
    return _save(path, nodes, [_features_input()], [out], list(FEATURE_NAMES), inits)


def column(path: Path, index: int, features: list[str] | None) -> Path:
    """A predictor whose lift is input column ``index``, with ``features`` as its metadata."""
    nodes = [helper.make_node("Gather", ["features", "idx"], ["variable"], axis=1)]
    inits = [helper.make_tensor("idx", TensorProto.INT64, [1], [index])]
    out = helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 1])
    width = len(features) if features is not None else WIDTH
    return _save(path, nodes, [_features_input(width)], [out], features, inits)


def double_input(path: Path) -> Path:
    """Takes float64 features (datalint feeds float32)."""
    nodes = [helper.make_node("ReduceSum", ["features", "axes"], ["variable"], keepdims=1)]
    inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1])]
    out = helper.make_tensor_value_info("variable", TensorProto.DOUBLE, ["N", 1])
    return _save(
        path, nodes, [_features_input(elem=TensorProto.DOUBLE)], [out], list(FEATURE_NAMES), inits
    )


def two_inputs(path: Path) -> Path:
    nodes = [helper.make_node("Add", ["features", "extra"], ["variable"])]
    extra = helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["N", WIDTH])
    out = helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", WIDTH])
    return _save(path, nodes, [_features_input(), extra], [out], list(FEATURE_NAMES))
