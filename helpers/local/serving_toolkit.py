"""The SageMaker serving toolkit's rules for an entry script's handlers, for the local model server.

The PyTorch (and Neo PyTorch) serving containers run the entry script through
aws/sagemaker-inference-toolkit's `Transformer` (src/sagemaker_inference/transformer.py),
configured by aws/sagemaker-pytorch-inference-toolkit's `HandlerService`
(src/sagemaker_pytorch_serving_container/handler_service.py) with the PyTorch default
handlers (restated in helpers.local.serving_defaults). This module restates the Transformer's
rules, read from the released sources (sagemaker-inference 1.10.1, sagemaker-pytorch-inference
2.0.25), so that a script written for those containers runs here unchanged:

Which handler wins (`Transformer._validate_user_module_and_set_functions`):
- no entry script at all: every handler is the default (`find_spec(module) is None` branch);
- otherwise each of model_fn, input_fn, predict_fn, output_fn is the script's if it defines it
  (a truthy attribute), else the default; `pre_model_fn(model_dir)` and
  `model_warmup_fn(model_dir, model)` run before and after model_fn when defined;
- `transform_fn` replaces the input_fn -> predict_fn -> output_fn pipeline
  (`_default_transform_fn`) when defined; defining it together with any of the three is an
  error at start-up: ValueError "Cannot use transform_fn implementation in conjunction with
  input_fn, predict_fn, and/or output_fn implementation" (the endpoint never gets healthy).

How a handler is called (`Transformer._run_handler_function`): it counts the handler's
parameters with `inspect.signature`; as many as the toolkit's arguments -> called without a
context, one more -> the context is appended (`model_fn(model_dir, context)`,
`input_fn(input_data, content_type, context)`, `transform_fn(model, data, ct, accept, context)`,
...), anything else -> TypeError "<name> takes N arguments but M were given.". The context is
the model server's (TorchServe/MMS); here a `Context` with the same `system_properties`.

A request (`Transformer.transform`):
- Content-Type is passed on exactly as sent (None if absent, parameters kept); when it is
  exactly application/json or text/csv (`content_types.UTF8_TYPES`) the body is decoded to
  str first, else it stays bytes;
- Accept is passed on as sent, except a missing one or exactly `*/*`, which becomes
  SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT or application/json (`environment.Environment`);
- the handler's result is the body, with Accept as its Content-Type, or a
  `(body, content_type)` tuple; the model server writes str as UTF-8, bytes as they are, and
  anything else as `json.dumps(result, indent=2)`, or 503 "Unsupported model output data type."
  when that fails (pytorch/serve and awslabs/multi-model-server, otf_message_handler.py,
  `create_predict_response`);
- an exception that is a `BaseInferenceToolkitError` answers its own `status_code` (and
  `phrase`); any other, including the defaults' UnsupportedFormatError, answers 500
  (`GenericInferenceToolkitError(INTERNAL_SERVER_ERROR, str(e))`). The local backend does not
  require sagemaker_inference, so any exception carrying an int `status_code` in 400-599
  counts, which is how scripts that also run outside the container (like the workshop's, when
  the package is missing) declare theirs.

tests/test_serving_toolkit_oracle.py checks these rules against the toolkit's own code.

The container environment the SageMaker Python SDK sets on a model is read by
`describe_environment`, which says what each variable does here.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from helpers.local import serving_defaults as defaults

PIPELINE = ("input_fn", "predict_fn", "output_fn")
DEFAULT_PROGRAM = "inference.py"  # sagemaker_inference.environment.DEFAULT_MODULE_NAME
CONTAINER_MODEL_DIR = "/opt/ml/model"  # sagemaker_inference.environment.model_dir


class ServingError(Exception):
    """An error with an HTTP status, shaped like sagemaker_inference's BaseInferenceToolkitError."""

    def __init__(self, status_code: int, message: str, phrase: str) -> None:
        super().__init__(message)
        self.status_code, self.message, self.phrase = status_code, message, phrase


@dataclass(frozen=True)
class Context:
    """What a handler that takes a `context` receives: the parts of TorchServe's Context that
    entry scripts read (`system_properties["model_dir"]`, `["gpu_id"]`, `model_name`)."""

    model_dir: str
    model_name: str = "model"
    system_properties: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_model_dir(cls, model_dir: str) -> Context:
        properties = {"model_dir": model_dir, "gpu_id": None, "batch_size": 1,
                      "server_name": "neo-workshop local model server"}
        return cls(model_dir=model_dir, system_properties=properties)


def call_handler(func: Callable[..., Any], args: tuple[Any, ...], context: Context) -> Any:
    """Transformer._run_handler_function: append the context if the handler takes one more."""
    count = len(inspect.signature(func).parameters)
    if count == len(args):
        return func(*args)
    if count == len(args) + 1:
        return func(*args, context)
    name = getattr(func, "__name__", type(func).__name__)
    raise TypeError(
        f"{name} takes {count} arguments but {len(args)} were given. The SageMaker toolkit calls "
        f"it with {len(args)} (or {len(args) + 1}, the last being the context)."
    )


@dataclass(frozen=True)
class Handlers:
    """The handlers that will serve, each the entry script's or the toolkit's default."""

    model_fn: Callable[..., Any]
    input_fn: Callable[..., Any]
    predict_fn: Callable[..., Any]
    output_fn: Callable[..., Any]
    transform_fn: Callable[..., Any] | None  # the script's; None means the default pipeline
    pre_model_fn: Callable[..., Any] | None
    model_warmup_fn: Callable[..., Any] | None
    from_script: frozenset[str]
    context: Context

    def describe(self) -> str:
        """One line for the log: which handler comes from where."""
        names = ["model_fn", "transform_fn"] if self.transform_fn else ["model_fn", *PIPELINE]
        return ", ".join(f"{n} ({'entry script' if n in self.from_script else 'default'})" for n in names)

    def load_model(self) -> Any:
        """Transformer.validate_and_initialize: pre_model_fn, model_fn, model_warmup_fn."""
        model_dir = self.context.model_dir
        if self.pre_model_fn is not None:
            call_handler(self.pre_model_fn, (model_dir,), self.context)
        model = call_handler(self.model_fn, (model_dir,), self.context)
        if self.model_warmup_fn is not None:
            call_handler(self.model_warmup_fn, (model_dir, model), self.context)
        return model

    def transform(self, model: Any, body: bytes, content_type: str | None, accept: str) -> tuple[bytes, str]:
        """One request: (response body, response Content-Type); exceptions propagate."""
        data: bytes | str = body.decode("utf-8") if content_type in defaults.UTF8_TYPES else body
        args = (model, data, content_type, accept)
        if self.transform_fn is not None:
            result = call_handler(self.transform_fn, args, self.context)
        else:
            batch = call_handler(self.input_fn, (data, content_type), self.context)
            prediction = call_handler(self.predict_fn, (batch, model), self.context)
            result = call_handler(self.output_fn, (prediction, accept), self.context)
        return encode_response(result, accept)


def resolve_handlers(module: ModuleType | None, model_dir: str) -> Handlers:
    """Pick each handler from the entry script or the defaults, refusing what the toolkit refuses."""
    context = Context.for_model_dir(model_dir)
    if module is None:
        return Handlers(defaults.default_model_fn, defaults.default_input_fn,
                        defaults.default_predict_fn, defaults.default_output_fn,
                        None, None, None, frozenset(), context)
    user = {name: getattr(module, name, None) for name in
            ("model_fn", "transform_fn", *PIPELINE, "pre_model_fn", "model_warmup_fn")}
    if user["transform_fn"] and any(user[name] for name in PIPELINE):
        defined = ", ".join(name for name in PIPELINE if user[name])
        where = getattr(module, "__file__", None) or module.__name__
        raise ValueError(
            "Cannot use transform_fn implementation in conjunction with input_fn, predict_fn, "
            f"and/or output_fn implementation ({where} defines transform_fn and {defined}): "
            "keep either transform_fn or the three, as the SageMaker serving toolkit requires."
        )
    return Handlers(
        model_fn=user["model_fn"] or defaults.default_model_fn,
        input_fn=user["input_fn"] or defaults.default_input_fn,
        predict_fn=user["predict_fn"] or defaults.default_predict_fn,
        output_fn=user["output_fn"] or defaults.default_output_fn,
        transform_fn=user["transform_fn"] or None,
        pre_model_fn=user["pre_model_fn"] or None,
        model_warmup_fn=user["model_warmup_fn"] or None,
        from_script=frozenset(name for name, value in user.items() if value),
        context=context,
    )


# --------------------------------------------------------------------------- requests
def resolve_accept(accept: str | None, default_accept: str) -> str:
    """A missing Accept, or exactly */*, means the default; anything else is passed as sent."""
    return default_accept if not accept or accept == defaults.ANY else accept


def encode_response(result: Any, accept: str) -> tuple[bytes, str]:
    """A handler's result as (bytes, Content-Type), the way the model servers write it."""
    body, content_type = result if isinstance(result, tuple) else (result, accept)
    if isinstance(body, str):
        return body.encode("utf-8"), content_type
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), content_type
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(body, torch.Tensor):  # TorchServe: torch.save bytes
        import io

        buffer = io.BytesIO()
        torch.save(body, buffer)
        return buffer.getvalue(), content_type
    try:
        return json.dumps(body, indent=2).encode("utf-8"), content_type
    except TypeError as exc:
        raise ServingError(
            503,
            f"Unsupported model output data type. The handler returned {type(body).__name__}: "
            "return str or bytes (or a (body, content_type) tuple) from output_fn/transform_fn.",
            "Service Unavailable",
        ) from exc


def error_status(exc: BaseException) -> tuple[int, str, str]:
    """(status, message, phrase) for a failed request: the exception's own status, else 500."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        message = getattr(exc, "message", None) or str(exc)
        phrase = getattr(exc, "phrase", None) or type(exc).__name__
        return status, str(message), " ".join(str(phrase).split())  # utils.remove_crlf
    return 500, f"{type(exc).__name__}: {exc}", "Internal Server Error"


# --------------------------------------------------------------------------- environment
def entry_script(code_dir: Path, program: str | None) -> Path:
    """The file SAGEMAKER_PROGRAM names: `inference.py` and `inference` both mean inference.py
    (environment.Environment._parse_module_name strips the .py to import it as a module)."""
    name = program or DEFAULT_PROGRAM
    return code_dir / (name if name.endswith(".py") else f"{name}.py")


def describe_environment(env: Mapping[str, str], model_dir: Path) -> list[str]:
    """What the SDK-set variables mean here, one log line each (only those that are set).

    SageMaker Python SDK v2 sets them in `Model._script_mode_env_vars` (src/sagemaker/model.py):
    SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY (`/opt/ml/model/code` when it repacked the
    source into model.tar.gz, which it does for PyTorch >= 1.2 (`_is_mms_version`), else the
    s3:// URL of sourcedir.tar.gz), SAGEMAKER_CONTAINER_LOG_LEVEL, SAGEMAKER_REGION; Neo
    examples add MMS_DEFAULT_RESPONSE_TIMEOUT, which Neo's MMS image reads, and the TorchServe
    image takes SAGEMAKER_MODEL_SERVER_TIMEOUT (sagemaker_facts.response_timeout_variable says
    where each is read). Neither toolkit reads SAGEMAKER_SUBMIT_DIRECTORY
    or SAGEMAKER_REGION: the code always comes from the model directory's code/.
    """
    lines = []
    if program := env.get("SAGEMAKER_PROGRAM"):
        lines.append(f"SAGEMAKER_PROGRAM={program}: entry script {entry_script(model_dir / 'code', program)}")
    submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY")
    if submit and submit.rstrip("/").startswith(CONTAINER_MODEL_DIR):
        local = model_dir / Path(submit).relative_to(CONTAINER_MODEL_DIR)
        lines.append(f"SAGEMAKER_SUBMIT_DIRECTORY={submit}: the model directory's {local}")
    elif submit:
        lines.append(
            f"SAGEMAKER_SUBMIT_DIRECTORY={submit}: not read, as in the SageMaker PyTorch serving "
            "containers, which take the entry script from code/ in model.tar.gz only (the SDK "
            "repacks source_dir there for framework_version >= 1.2)"
        )
    if level := env.get("SAGEMAKER_CONTAINER_LOG_LEVEL"):
        lines.append(f"SAGEMAKER_CONTAINER_LOG_LEVEL={level}: the model server's log level")
    if region := env.get("SAGEMAKER_REGION"):
        lines.append(f"SAGEMAKER_REGION={region}: ignored (nothing here downloads from a region)")
    for variable in ("MMS_DEFAULT_RESPONSE_TIMEOUT", "SAGEMAKER_MODEL_SERVER_TIMEOUT"):
        if timeout := env.get(variable):
            lines.append(f"{variable}={timeout}: ignored (no worker timeout here; the runtime "
                         "gateway gives an invocation 60 s, as SageMaker does)")
    return lines


def log_level(env: Mapping[str, str], default: int) -> int:
    """SAGEMAKER_CONTAINER_LOG_LEVEL as a logging level (the SDK sends `logging.INFO`, "20")."""
    value = (env.get("SAGEMAKER_CONTAINER_LOG_LEVEL") or "").strip()
    if value.isdigit():
        return int(value)
    import logging

    level = logging.getLevelName(value.upper()) if value else default
    return level if isinstance(level, int) else default
