"""What every compeff-hf distilabel Pipeline shares: the LLM choice, the runner, and the workarounds it needs.

distilabel 1.5.3 is pinned and unmaintained upstream. Its runner has defects that would break our guarantees;
each is worked around here, reproduced by a test in ``tests/llm/test_llm_pipelines.py`` and listed in
docs/construct.md ("distilabel defects and their workarounds"):

* **resume after a kill hangs** (its batch cache): pipelines always run with ``use_cache=False`` and a cleared
  cache folder (a second run otherwise rebuilds the steps from the cached dump, turning dataclass fields into
  dicts); our sub-stage markers and request ledgers are the resume mechanism, so a rerun still sends no answered
  request again;
* **a step that raises is logged and the pipeline exits 0**, with the step's rows missing: our steps catch the
  error, record it in ``_ledger/pipeline_error.pkl`` and pass an error marker downstream; :func:`run_pipeline`
  re-raises it in the calling process, with its type and message;
* **a global step that outputs no rows hangs the steps after it**: our steps never output an empty batch (an
  ``_compeff_empty`` marker row stands for "no rows" and is dropped by the next step);
* **every stage of the DAG waits in 2.5 s polls** for its steps to load (a global step is a stage of its own:
  ~25 s per construct run, whatever the data): the runner's sleeps are capped at 0.05 s (:func:`_fast_polling`);
* **running a pipeline clears the root logger's handlers** and sets its level: they are restored afterwards, and
  distilabel's own per-batch INFO lines are off unless ``DISTILABEL_LOG_LEVEL`` asks for them;
* **its workers are forked from the calling process**: after that process used torch (a test session, a resumed
  ``compeff-hf run``), a forked worker that uses torch again (the embedding step) can hang forever. Pipelines run
  with the ``forkserver`` start method (a clean server process with distilabel and our steps preloaded forks the
  workers), restored afterwards (:func:`_forkserver`);
* **SIGKILL of the main process leaves orphan workers** that keep sending requests: every worker asks the kernel
  for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), and so does the forkserver that is their parent
  (``_forkserver_preload``), so the chain follows the stage process.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

from ...errors import CompEffError, RecipeError

# The pinned distilabel's pydantic models warn each time pydantic builds their schema (at import, and again in
# every worker that unpickles a step): harmless noise on the user's console. Only that warning is silenced, in this
# process and in the workers it forks.
warnings.filterwarnings("ignore", message=r"The 'default' attribute with value None was provided to the `Field\(\)`")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from distilabel.models.llms.base import LLM
    from distilabel.pipeline import Pipeline


EMPTY = "_compeff_empty"  # a row standing for "this step produced no rows" (an empty batch would hang distilabel)
ERROR = "_compeff_error"  # a row standing for "an upstream step failed": later steps pass it on and do nothing
_ERROR_FILE = "pipeline_error.pkl"


def die_with_parent() -> None:
    """Be killed when the parent process dies (even by SIGKILL). Called in the pipelines' forkserver and, at fork,
    in every process it starts (``_forkserver_preload``), so no worker outlives the stage."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def record_error(stage_dir: str | Path, err: BaseException) -> None:
    """Keep a step's exception for :func:`run_pipeline` to re-raise (distilabel would only log it)."""
    import traceback

    path = Path(stage_dir) / "_ledger" / _ERROR_FILE
    # The traceback stays in the stage's log (the re-raised copy has none).
    (path.parent / "pipeline_error.log").write_text("".join(traceback.format_exception(err)), encoding="utf-8")
    try:
        blob = pickle.dumps(err)
        pickle.loads(blob)
    except Exception:  # an exception that does not pickle is re-raised as a CompEffError with its text
        blob = pickle.dumps(CompEffError(f"{type(err).__name__}: {err}"))
    if not path.exists():  # the first failure is the cause; later ones are consequences
        path.write_bytes(blob)


def clean_rows(rows: list[dict]) -> tuple[list[dict], bool]:
    """Rows of one input with the marker rows removed, and whether an upstream step failed."""
    failed = any(r.get(ERROR) for r in rows)
    return [r for r in rows if not r.get(EMPTY) and not r.get(ERROR)], failed


def make_llm(config: Any) -> LLM | None:
    """The distilabel LLM named by the recipe's ``llm_class``; None for ``compeff`` (our ledger-backed client)."""
    name = config.llm_class
    if name in ("compeff", "", None):
        return None
    if "." in name:
        module, _, attr = name.rpartition(".")
    else:
        module, attr = "distilabel.models.llms", name
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise RecipeError(f"llm_class {name!r}: no such distilabel LLM ({err})") from None
    if not (isinstance(cls, type) and issubclass(cls, LLM)):
        raise RecipeError(f"llm_class {name!r} is not a distilabel LLM class")
    kwargs: dict[str, Any] = {}
    fields = getattr(cls, "model_fields", {})
    if "model" in fields:
        kwargs["model"] = config.model
    if config.endpoint_url:
        url = config.endpoint_url.rstrip("/")
        if "base_url" in fields:
            kwargs["base_url"] = url if url.endswith("/v1") or name != "OpenAILLM" else url + "/v1"
    if "api_key" in fields:
        kwargs["api_key"] = os.environ.get(config.api_key_env) or "EMPTY"
    if "timeout" in fields:
        kwargs["timeout"] = int(config.request_timeout_s)
    if "max_retries" in fields:
        kwargs["max_retries"] = config.max_retries
    kwargs.update(config.parsed_llm_kwargs())
    try:
        return cls(**kwargs)
    except Exception as err:
        raise RecipeError(f"llm_class {name}: cannot be built from {sorted(kwargs)}: {err}") from None


class _ScrubbedPipeline(Pipeline):
    """A Pipeline whose serialised form never holds a secret: distilabel writes ``dump()`` into its cache folder
    (``executions/*/pipeline.yaml``) at run time, endpoint URLs with credentials and keys included."""

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        from ...hub.redact import redact

        return redact(super().dump(**kwargs))


def new_pipeline(name: str, config: Any, stage_dir: str | Path, description: str) -> Pipeline:
    """An empty distilabel Pipeline whose cache lives inside the stage folder (nothing written elsewhere)."""
    return _ScrubbedPipeline(name=name, description=description, cache_dir=Path(stage_dir) / "_ledger" / "distilabel")


def save_pipeline_yaml(pipeline: Pipeline, stage_dir: str | Path) -> Path:
    """Write the serialised DAG (distilabel's ``pipeline.yaml``) into the stage folder, secrets scrubbed."""
    import yaml

    from ...hub.redact import redact

    path = Path(stage_dir) / "pipeline.yaml"
    dump = redact(pipeline.dump())
    path.write_text(yaml.safe_dump(dump, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


class _CappedTime:
    """The ``time`` module as distilabel's runner sees it, with sleeps capped (its polls are fixed 0.5-2.5 s)."""

    def __init__(self, real: Any, cap: float):
        self._real, self._cap = real, cap

    def sleep(self, seconds: float) -> None:
        self._real.sleep(min(seconds, self._cap))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@contextlib.contextmanager
def _fast_polling(cap: float = 0.05):
    import distilabel.pipeline.base as runner_module

    real = runner_module.time
    runner_module.time = _CappedTime(real, cap)
    try:
        yield
    finally:
        runner_module.time = real


@contextlib.contextmanager
def _forkserver():
    import multiprocessing as mp
    import multiprocessing.context as mp_context

    import distilabel.pipeline.local as local

    class _NoDaemonForkServerContext(mp_context.ForkServerContext):
        Process = local._NoDaemonProcess  # its pool's workers may start processes of their own (as distilabel's)

    previous_method, previous_context = mp.get_start_method(allow_none=True), local._NoDaemonContext
    # ours first: the forkserver dies with the stage process, and distilabel is imported with its warning filter
    preload = ["compeff_hf.llm.pipelines._forkserver_preload", "compeff_hf.llm.pipelines.construct"]
    mp.set_forkserver_preload([*preload, "distilabel.pipeline.local"])
    mp.set_start_method("forkserver", force=True)
    local._NoDaemonContext = _NoDaemonForkServerContext
    try:
        yield
    finally:
        local._NoDaemonContext = previous_context
        mp.set_start_method(previous_method, force=True)


def run_pipeline(pipeline: Pipeline, config: Any, stage_dir: str | Path) -> Any:
    """Run ``pipeline`` (locally or on Ray, per ``config.pipeline_backend``); re-raise a step's error here.

    Returns distilabel's Distiset of the leaf steps.
    """
    import shutil

    error_file = Path(stage_dir) / "_ledger" / _ERROR_FILE
    error_file.parent.mkdir(parents=True, exist_ok=True)
    error_file.unlink(missing_ok=True)
    # Never let distilabel see a previous run's cache: it rebuilds the steps from it (our dataclass fields come
    # back as dicts) even with use_cache=False. The folder is ours (new_pipeline puts it in the stage's _ledger).
    if pipeline._cache_dir.is_relative_to(Path(stage_dir)):
        shutil.rmtree(pipeline._cache_dir / pipeline.name, ignore_errors=True)
    save_pipeline_yaml(pipeline, stage_dir)
    runner = pipeline
    if config.pipeline_backend == "ray":
        runner = pipeline.ray(ray_head_node_url=config.ray_address)
    # distilabel logs every batch at INFO through rich; keep our console readable (warnings still show).
    os.environ.setdefault("DISTILABEL_LOG_LEVEL", "WARNING")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with warnings.catch_warnings(), _fast_polling(), _forkserver():
            warnings.simplefilter("ignore")
            distiset = runner.run(use_cache=False)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    if error_file.exists():
        err = pickle.loads(error_file.read_bytes())
        error_file.unlink()
        raise err
    return distiset
