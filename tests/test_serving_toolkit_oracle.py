"""The local handler rules answer exactly what the real SageMaker PyTorch toolkit answers.

The oracle is the toolkit itself (sagemaker-pytorch-inference, a dev dependency; it carries its
own copy of sagemaker_inference): its `Transformer` with `DefaultPytorchInferenceHandler`, the
pair the PyTorch serving container's HandlerService builds, driven through a stand-in for the
model server's context. Every entry script below meets every request on both sides; status,
Content-Type and body must agree. Deliberate differences are tested in test_serving_toolkit.py.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import support

from helpers.local import serving_toolkit as toolkit

transformer = pytest.importorskip("sagemaker_inference.transformer")
pytorch_handler = pytest.importorskip("sagemaker_pytorch_serving_container.default_pytorch_inference_handler")


SCRIPTS = {
    "no script": None,
    "transform_fn only": """
        import json
        import torch
        def transform_fn(model, data, content_type, accept):
            x = torch.tensor(json.loads(data), dtype=torch.float32)
            return json.dumps(model(x).tolist()), "application/x-answer"
        """,
    "predict_fn only": """
        def predict_fn(data, model):
            return model(data) * 2
        """,
    "all four": """
        def model_fn(model_dir):
            return b"M:"
        def input_fn(body, content_type):
            return (body if isinstance(body, bytes) else body.encode()).upper()
        def predict_fn(data, model):
            return model + data
        def output_fn(prediction, accept):
            return prediction, "application/octet-stream"
        """,
    "handlers taking a context": """
        def model_fn(model_dir, context):
            return context.system_properties["model_dir"]
        def input_fn(body, content_type, context):
            return [len(body)]
        def predict_fn(data, model, context=None):
            return data + [1.5]
        """,
    "transform_fn returning a dict": """
        def transform_fn(model, data, content_type, accept):
            return {"type": type(data).__name__}
        """,
}

REQUESTS = [
    (b"[[1, 2, 3]]", "application/json", None),
    (b"[[1, 2, 3]]", "application/json", "*/*"),
    (b"[[1, 2, 3]]", "application/json", "text/csv"),
    (b"1,2,3\n", "text/csv", "application/x-npy"),
    (support.npy(np.array([[1, 2, 3]], np.float32)), "application/x-npy", "image/png, application/json"),
    (b"[[1, 2, 3]]", "application/json; charset=utf-8", None),
    (b"\xff\xd8\xff", "application/x-image", None),
    (b"[[1, 2, 3]]", "application/json", "text/html"),
    (b"[[1, 2, 3]]", "application/json", "application/json; charset=utf-8"),
]


class RequestProcessor:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def get_request_properties(self) -> dict[str, str]:
        return self.headers


class ServerContext:
    """What MMS/TorchServe hand the Transformer: system properties, request headers, setters."""

    def __init__(self, model_dir: Path, headers: dict[str, str]) -> None:
        self.model_name = "model"
        self.system_properties = {"model_dir": str(model_dir)}
        self.request_processor = [RequestProcessor(headers)]
        self.status, self.content_type = 200, None

    def set_response_status(self, code: int, phrase: str) -> None:
        self.status = int(code)

    def set_response_content_type(self, index: int, content_type: str) -> None:
        self.content_type = content_type


def written(body: Any) -> bytes:
    """What the model server writes for a handler's result (otf_message_handler)."""
    return toolkit.encode_response(body, "")[0]


@pytest.fixture
def model_dir(tmp_path, monkeypatch) -> Path:
    support.save_tiny_linear(tmp_path)
    (tmp_path / "code").mkdir()
    # The toolkit finds "the one .pt/.pth file" by bare name, i.e. in the working directory.
    yield support.toolkit_model_dir(tmp_path, monkeypatch)
    sys.modules.pop("inference", None)


def toolkit_answer(model_dir: Path, body: bytes, content_type: str, accept: str | None) -> tuple:
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})
    context = ServerContext(model_dir, headers)
    oracle = transformer.Transformer(default_inference_handler=pytorch_handler.DefaultPytorchInferenceHandler())
    oracle.validate_and_initialize(model_dir=str(model_dir), context=context)  # initialize() first
    (result,) = oracle.transform([{"body": body}], context)
    return (200, context.content_type, written(result)) if context.status == 200 else (context.status,)


def local_answer(source: str | None, model_dir: Path, body: bytes, content_type: str, accept: str | None) -> tuple:
    module = None
    if source is not None:
        module = ModuleType("inference")
        exec(source, module.__dict__)  # noqa: S102 - the scripts above
    handlers = toolkit.resolve_handlers(module, str(model_dir))
    model = handlers.load_model()
    try:
        return (200, *reversed(handlers.transform(model, body, content_type, toolkit.resolve_accept(accept, "application/json"))))
    except Exception as exc:  # noqa: BLE001 - compared by status
        return (toolkit.error_status(exc)[0],)


@pytest.mark.parametrize("name", SCRIPTS)
def test_same_answers_as_the_toolkit(model_dir, name):
    source = textwrap.dedent(SCRIPTS[name]) if SCRIPTS[name] else None
    if source is not None:
        (model_dir / "code" / "inference.py").write_text(source)
    importlib.invalidate_caches()
    for body, content_type, accept in REQUESTS:
        sys.modules.pop("inference", None)
        expected = toolkit_answer(model_dir, body, content_type, accept)
        got = local_answer(source, model_dir, body, content_type, accept)
        assert got == expected, (name, content_type, accept)


def test_transform_fn_with_output_fn_is_refused_by_both(model_dir):
    source = "def transform_fn(m, d, c, a):\n    return d\ndef output_fn(p, a):\n    return p\n"
    (model_dir / "code" / "inference.py").write_text(source)
    oracle = transformer.Transformer(default_inference_handler=pytorch_handler.DefaultPytorchInferenceHandler())
    with pytest.raises(ValueError, match="Cannot use transform_fn") as theirs:
        oracle.validate_and_initialize(model_dir=str(model_dir), context=ServerContext(model_dir, {}))
    module = ModuleType("inference")
    exec(source, module.__dict__)  # noqa: S102
    with pytest.raises(ValueError) as ours:
        toolkit.resolve_handlers(module, str(model_dir))
    assert str(ours.value).startswith(str(theirs.value))


def test_a_script_status_error_answers_its_status_on_both(model_dir):
    source = textwrap.dedent(
        """
        from sagemaker_inference.errors import BaseInferenceToolkitError

        class Teapot(BaseInferenceToolkitError):
            def __init__(self):
                super().__init__(418, "short and stout", "I'm a teapot")

        def transform_fn(model, data, content_type, accept):
            raise Teapot()
        """
    )
    (model_dir / "code" / "inference.py").write_text(source)
    assert toolkit_answer(model_dir, b"x", "text/plain", None) == (418,)
    assert local_answer(source, model_dir, b"x", "text/plain", None) == (418,)
