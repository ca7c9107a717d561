"""compeff-hf's stages as distilabel Pipelines (distilabel 1.5.3, pinned): the only package importing distilabel.

``build_construct_pipeline(config)`` and ``build_teacher_pipeline(config)`` return a
:class:`distilabel.pipeline.Pipeline` whose steps wrap the stages' own code; ``compeff-hf construct`` and
``compeff-hf teacher`` build and run them. Import cost is distilabel's (a few seconds), so this package is
imported only when a stage runs.
"""

from __future__ import annotations

from typing import Any


def build_construct_pipeline(config: Any, **kwargs: Any):
    """See :func:`compeff_hf.llm.pipelines.construct.build_construct_pipeline`."""
    from .construct import build_construct_pipeline as build

    return build(config, **kwargs)


def build_teacher_pipeline(config: Any, **kwargs: Any):
    """See :func:`compeff_hf.llm.pipelines.teacher.build_teacher_pipeline`."""
    from .teacher import build_teacher_pipeline as build

    return build(config, **kwargs)


__all__ = ["build_construct_pipeline", "build_teacher_pipeline"]
