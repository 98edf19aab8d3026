"""The local model server picks, calls and answers handlers the way the SageMaker toolkit does.

Each test states one rule of sagemaker_inference's Transformer or of the PyTorch container's
default handlers (see helpers/local/serving_toolkit.py and serving_defaults.py for the
sources), on toy entry scripts and a tiny TorchScript model, without starting a server.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import support
import torch

from helpers.local import serving_defaults as defaults
from helpers.local import serving_toolkit as toolkit

JSON, CSV, NPY = "application/json", "text/csv", "application/x-npy"


def entry_script(source: str) -> ModuleType:
    """An entry script module from source text, as if imported from code/inference.py."""
    module = ModuleType("inference")
    module.__file__ = "code/inference.py"
    exec(textwrap.dedent(source), module.__dict__)  # noqa: S102 - test scripts we wrote
    return module


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """A model directory holding a tiny TorchScript model.pth: y = [x0, x1 + x2]."""
    return support.save_tiny_linear(tmp_path)


def serve(module: ModuleType | None, model_dir: Path, body: bytes, content_type: str | None,
          accept: str | None = None) -> tuple[bytes, str]:
    handlers = toolkit.resolve_handlers(module, str(model_dir))
    model = handlers.load_model()
    return handlers.transform(model, body, content_type, toolkit.resolve_accept(accept, JSON))


# --------------------------------------------------------------------------- which handler wins
def test_no_entry_script_serves_with_every_default(model_dir):
    handlers = toolkit.resolve_handlers(None, str(model_dir))
    assert handlers.from_script == frozenset() and handlers.transform_fn is None
    body, content_type = serve(None, model_dir, b"[[1, 2, 3]]", JSON)
    assert json.loads(body) == [[1.0, 5.0]] and content_type == JSON


def test_transform_fn_only_replaces_the_pipeline_and_gets_the_default_model(model_dir):
    module = entry_script(
        """
        import json
        import torch
        def transform_fn(model, payload, content_type, accept):
            x = torch.tensor(json.loads(payload), dtype=torch.float32)
            return json.dumps(model.forward(x).tolist()), "application/vnd.answer+json"
        """
    )
    handlers = toolkit.resolve_handlers(module, str(model_dir))
    assert handlers.from_script == {"transform_fn"}
    assert "transform_fn (entry script)" in handlers.describe() and "model_fn (default)" in handlers.describe()
    body, content_type = serve(module, model_dir, b"[[1, 2, 3]]", JSON)
    assert json.loads(body) == [[1.0, 5.0]] and content_type == "application/vnd.answer+json"


def test_predict_fn_only_sits_between_the_default_input_and_output_fns(model_dir):
    module = entry_script(
        """
        def predict_fn(data, model):
            assert data.dtype.is_floating_point  # default input_fn: JSON -> FloatTensor
            return model(data) * 2
        """
    )
    body, content_type = serve(module, model_dir, b"[[1, 2, 3]]", JSON, CSV)
    assert body == b"2.0,10.0\n" and content_type == CSV  # default output_fn, CSV as UTF-8 bytes


def test_all_four_are_the_scripts_own(model_dir):
    module = entry_script(
        """
        calls = []
        def model_fn(model_dir):
            calls.append("model_fn")
            return "my-model"
        def input_fn(body, content_type):
            calls.append("input_fn")
            return body.upper()
        def predict_fn(data, model):
            calls.append("predict_fn")
            return model + ":" + data.decode()
        def output_fn(prediction, accept):
            calls.append("output_fn")
            return prediction
        """
    )
    body, content_type = serve(module, model_dir, b"abc", "text/plain", "text/plain")
    assert body == b"my-model:ABC" and content_type == "text/plain"  # str written as UTF-8
    assert module.calls == ["model_fn", "input_fn", "predict_fn", "output_fn"]


@pytest.mark.parametrize("also", ["input_fn", "predict_fn", "output_fn"])
def test_transform_fn_with_any_of_the_three_is_refused_at_start(model_dir, also):
    module = entry_script(f"def transform_fn(m, d, c, a):\n    pass\ndef {also}(*args):\n    pass\n")
    with pytest.raises(ValueError, match="Cannot use transform_fn implementation in conjunction with") as info:
        toolkit.resolve_handlers(module, str(model_dir))
    assert also in str(info.value)


def test_a_handler_set_to_none_counts_as_absent(model_dir):
    module = entry_script("transform_fn = None\ninput_fn = None\n")
    handlers = toolkit.resolve_handlers(module, str(model_dir))
    assert handlers.transform_fn is None and handlers.input_fn is defaults.default_input_fn


def test_pre_model_fn_and_model_warmup_fn_frame_model_fn(model_dir):
    module = entry_script(
        """
        calls = []
        def pre_model_fn(model_dir):
            calls.append("pre")
        def model_fn(model_dir):
            calls.append("model")
            return 42
        def model_warmup_fn(model_dir, model):
            calls.append(("warmup", model))
        """
    )
    assert toolkit.resolve_handlers(module, str(model_dir)).load_model() == 42
    assert module.calls == ["pre", "model", ("warmup", 42)]


# --------------------------------------------------------------------------- how handlers are called
def test_handlers_with_one_more_parameter_get_the_context(model_dir):
    module = entry_script(
        """
        seen = {}
        def model_fn(model_dir, context):
            seen["model_fn"] = context.system_properties["model_dir"]
            return "m"
        def input_fn(body, content_type, context=None):
            seen["input_fn"] = context
            return body
        def predict_fn(data, model):
            return data
        def output_fn(prediction, accept, context):
            seen["output_fn"] = context.model_name
            return prediction
        """
    )
    serve(module, model_dir, b"x", "application/octet-stream")
    assert module.seen["model_fn"] == str(model_dir)
    assert isinstance(module.seen["input_fn"], toolkit.Context) and module.seen["output_fn"] == "model"


def test_transform_fn_with_a_context(model_dir):
    module = entry_script("def transform_fn(model, data, content_type, accept, context):\n"
                          "    return context.system_properties['model_dir']\n")
    assert serve(module, model_dir, b"x", "application/octet-stream")[0] == str(model_dir).encode()


def test_a_handler_with_the_wrong_arity_is_a_type_error(model_dir):
    module = entry_script("def model_fn():\n    return 1\n")
    with pytest.raises(TypeError, match="model_fn takes 0 arguments but 1 were given"):
        toolkit.resolve_handlers(module, str(model_dir)).load_model()


# --------------------------------------------------------------------------- request and response
@pytest.mark.parametrize("content_type, expected", [
    (JSON, str), (CSV, str), (NPY, bytes), ("application/json; charset=utf-8", bytes),
    ("application/x-image", bytes), (None, bytes),
])
def test_only_exact_json_and_csv_bodies_are_decoded_to_str(model_dir, content_type, expected):
    module = entry_script("def transform_fn(model, data, content_type, accept):\n"
                          "    return type(data).__name__\n")
    body, _ = serve(module, model_dir, b"1", content_type)
    assert body.decode() == expected.__name__


@pytest.mark.parametrize("accept, expected", [(None, JSON), ("", JSON), ("*/*", JSON),
                                              ("*/*; q=0.8", "*/*; q=0.8"), (CSV, CSV)])
def test_missing_or_exactly_wildcard_accept_is_the_default(accept, expected):
    assert toolkit.resolve_accept(accept, JSON) == expected


def test_default_output_fn_takes_the_first_known_type_and_answers_the_whole_accept(model_dir):
    accept = "image/png, application/x-npy,application/json"
    body, content_type = serve(None, model_dir, support.npy(np.array([[1, 2, 3]], np.float32)), NPY, accept)
    assert content_type == accept  # the default output_fn returns no content type of its own
    np.testing.assert_array_equal(np.load(io.BytesIO(body)), [[1.0, 5.0]])


@pytest.mark.parametrize("content_type, body", [
    ("application/json; charset=utf-8", b"[[1, 2, 3]]"),  # parameters defeat the exact match
    ("application/x-image", b"\xff\xd8"),
    ("application/x-npz", b"PK"),
])
def test_types_the_defaults_cannot_decode_are_500_not_415(model_dir, content_type, body):
    with pytest.raises(defaults.UnsupportedFormatError, match="is not supported by this framework") as info:
        serve(None, model_dir, body, content_type)
    assert toolkit.error_status(info.value)[0] == 500


def test_an_accept_the_defaults_cannot_encode_is_500(model_dir):
    with pytest.raises(defaults.UnsupportedFormatError, match="text/html") as info:
        serve(None, model_dir, b"[[1, 2, 3]]", JSON, "text/html")
    assert toolkit.error_status(info.value)[0] == 500


def test_default_input_fn_keeps_the_npy_dtype_and_makes_json_and_csv_float32():
    assert defaults.default_input_fn(support.npy(np.arange(3, dtype=np.int64)), NPY).dtype == torch.int64
    assert defaults.default_input_fn("[1, 2]", JSON).dtype == torch.float32
    assert defaults.default_input_fn("1,2\n3,4\n", CSV).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_npy_bodies_are_never_unpickled():
    """Deliberate difference: the toolkit loads .npy with allow_pickle=True."""
    with pytest.raises(ValueError, match="allow_pickle"):
        defaults.default_input_fn(support.npy(np.array([{"a": 1}], dtype=object)), NPY)


@pytest.mark.parametrize("result, expected", [
    ("é", ("é".encode(), JSON)),
    (b"\x00\x01", (b"\x00\x01", JSON)),
    ((b"a,b", CSV), (b"a,b", CSV)),
    ({"k": [1]}, (json.dumps({"k": [1]}, indent=2).encode(), JSON)),
])
def test_how_a_handlers_result_is_written(result, expected):
    assert toolkit.encode_response(result, JSON) == expected


def test_an_unwritable_result_is_503():
    with pytest.raises(toolkit.ServingError, match="Unsupported model output data type") as info:
        toolkit.encode_response(object(), JSON)
    assert toolkit.error_status(info.value)[0] == 503


class Teapot(Exception):
    """Shaped like sagemaker_inference.errors.BaseInferenceToolkitError."""

    def __init__(self) -> None:
        super().__init__(418, "short and stout", "I'm a\nteapot")
        self.status_code, self.message, self.phrase = 418, "short and stout", "I'm a\nteapot"


@pytest.mark.parametrize("exc, expected", [
    (Teapot(), (418, "short and stout", "I'm a teapot")),
    (RuntimeError("boom"), (500, "RuntimeError: boom", "Internal Server Error")),
    (type("E", (Exception,), {"status_code": True})(), (500, "E: ", "Internal Server Error")),
    (type("E", (Exception,), {"status_code": 200})("x"), (500, "E: x", "Internal Server Error")),
])
def test_error_status(exc, expected):
    assert toolkit.error_status(exc) == expected


# --------------------------------------------------------------------------- default model_fn
def test_default_model_fn_prefers_model_pt_and_moves_nothing_off_the_cpu(model_dir):
    (model_dir / "model.pth").rename(model_dir / "model.pt")
    (model_dir / "other.pth").write_bytes(b"not read")
    model = defaults.default_model_fn(str(model_dir))
    assert isinstance(model, torch.jit.ScriptModule)


@pytest.mark.parametrize("files", [[], ["a.pth", "b.pt"]])
def test_default_model_fn_needs_exactly_one_model_file(tmp_path, files):
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(ValueError, match=r"Exactly one \.pth or \.pt file is required for PyTorch models"):
        defaults.default_model_fn(str(tmp_path))


def test_default_model_fn_refuses_a_pickled_state_dict(tmp_path):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "model.pth")
    with pytest.raises(defaults.ModelLoadError, match="torchscript"):
        defaults.default_model_fn(str(tmp_path))


# --------------------------------------------------------------------------- environment
@pytest.mark.parametrize("program, expected", [(None, "inference.py"), ("inference", "inference.py"),
                                               ("serve.py", "serve.py")])
def test_sagemaker_program_names_the_entry_script(program, expected):
    assert toolkit.entry_script(Path("/m/code"), program) == Path("/m/code") / expected


def test_what_the_sdks_variables_mean_here(tmp_path):
    env = {"SAGEMAKER_PROGRAM": "resnet18.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
           "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": "us-west-2",
           "MMS_DEFAULT_RESPONSE_TIMEOUT": "500"}
    lines = toolkit.describe_environment(env, tmp_path)
    assert len(lines) == 5
    assert str(tmp_path / "code" / "resnet18.py") in lines[0]
    assert lines[1].endswith(f"the model directory's {tmp_path / 'code'}")
    assert all("ignored" in line for line in lines[3:])
    s3 = toolkit.describe_environment({"SAGEMAKER_SUBMIT_DIRECTORY": "s3://b/k/sourcedir.tar.gz"}, tmp_path)
    assert "not read" in s3[0]


@pytest.mark.parametrize("value, expected", [("20", 20), ("DEBUG", 10), ("", 30), ("loud", 30)])
def test_container_log_level(value, expected):
    assert toolkit.log_level({"SAGEMAKER_CONTAINER_LOG_LEVEL": value}, 30) == expected
