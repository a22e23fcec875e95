"""Autologging for scikit-learn: every ``fit`` records params, fit time, training score
and the fitted model; a hyper-parameter search also records its best params, best
cross-validated score and the class of its best estimator.

Patching estimator classes is process-wide by nature (it changes the classes), so the
switch lives here, in one small settings object. Classes already imported are patched
at once; classes imported later are patched as they are defined (through
``BaseEstimator.__init_subclass__``). Only the outermost ``fit`` is logged, so a grid
search logs itself, not each of its inner fits.
"""

from __future__ import annotations

import contextvars
import functools
import numbers
import time
import traceback
from dataclasses import dataclass
from typing import Any

from modelyard import limits
from modelyard.errors import MissingDependency
from modelyard.sdk.client import Client
from modelyard.sdk.run import active_run

__all__ = ["configure"]


@dataclass
class _Config:
    enabled: bool = False
    project: str | None = None
    log_models: bool = True
    hooked: bool = False


_CONFIG = _Config()
_IN_FIT: contextvars.ContextVar[bool] = contextvars.ContextVar("modelyard_in_fit", default=False)
_MARK = "_modelyard_autolog"


def configure(
    project: str | None = None, *, log_models: bool = True, disable: bool = False
) -> None:
    """Turn scikit-learn autologging on (or off with ``disable=True``)."""
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        raise MissingDependency.for_extra("scikit-learn", "sklearn") from None
    _CONFIG.enabled = not disable
    _CONFIG.project = project
    _CONFIG.log_models = log_models
    if disable or _CONFIG.hooked:
        return
    for cls in _all_subclasses(BaseEstimator):
        _patch(cls)
    original = BaseEstimator.__dict__.get("__init_subclass__")

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        if original is not None:
            original.__get__(None, cls)(**kwargs)
        else:
            super(BaseEstimator, cls).__init_subclass__(**kwargs)
        _patch(cls)

    BaseEstimator.__init_subclass__ = classmethod(__init_subclass__)
    _CONFIG.hooked = True


def _all_subclasses(cls: type) -> list[type]:
    seen: list[type] = []
    stack: list[type] = [cls]
    while stack:
        sub: type
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    return seen


def _patch(cls: type) -> None:
    fit = cls.__dict__.get("fit")
    if fit is None or getattr(fit, _MARK, False) or not callable(fit):
        return

    @functools.wraps(fit)
    def logged_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _CONFIG.enabled or _IN_FIT.get():
            return fit(self, *args, **kwargs)
        token = _IN_FIT.set(True)
        try:
            return _fit_and_log(fit, self, args, kwargs)
        finally:
            _IN_FIT.reset(token)

    setattr(logged_fit, _MARK, True)
    cls.fit = logged_fit  # type: ignore[attr-defined]


def _fit_and_log(fit: Any, est: Any, args: tuple, kwargs: dict) -> Any:
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    outer = active_run()
    name = type(est).__name__
    if outer is not None and not outer._autologged:
        run, owned = outer, False
    elif outer is not None:
        run, owned = outer.start_run(name=f"{name}-fit"), True
    else:
        client = Client()
        run = client.start_run(_CONFIG.project, name=f"{name}-fit", _owns_client=True)
        owned = True
    run._autologged = True
    start = time.perf_counter()
    try:
        result = fit(est, *args, **kwargs)
    except BaseException as exc:
        if owned:
            run.end("failed", error="".join(traceback.format_exception(exc)))
        raise
    fit_time = time.perf_counter() - start
    try:
        run.set_tag("autolog.estimator", f"{type(est).__module__}.{name}")
        run.log_params(_params(est))
        run.log_metric("fit_time_s", fit_time)
        _log_search(run, est)
        if X is not None and y is not None and hasattr(est, "score"):
            try:
                run.log_metric("training_score", float(est.score(X, y)))
            except Exception as exc:  # a scorer that cannot score its own training data
                error = f"{type(exc).__name__}: {exc}"
                run.set_tag("autolog.score_error", limits.head(error, limits.TAG_VALUE))
        if _CONFIG.log_models:
            run.log_model_file(est, "model/model.pkl")
    finally:
        if owned:
            run.end("finished")
    return result


def _params(est: Any) -> dict[str, Any]:
    return {key: _value(value) for key, value in est.get_params(deep=False).items()}


def _value(value: Any) -> Any:
    """An estimator by its class name; anything else as it is."""
    return type(value).__name__ if hasattr(value, "get_params") else value


def _log_search(run: Any, est: Any) -> None:
    """What a hyper-parameter search (``GridSearchCV``, ``RandomizedSearchCV``, ...) found:
    ``best_params_`` as params prefixed ``best_``, ``best_score_`` as the metric
    ``best_cv_score`` and the class of ``best_estimator_`` as the tag
    ``autolog.best_estimator`` (each where the search has it: without ``refit`` there is
    no best estimator)."""
    best_params = getattr(est, "best_params_", None)
    if isinstance(best_params, dict):
        run.log_params({f"best_{key}": _value(value) for key, value in best_params.items()})
    best_score = getattr(est, "best_score_", None)
    if isinstance(best_score, numbers.Real) and not isinstance(best_score, bool):
        run.log_metric("best_cv_score", float(best_score))
    best = getattr(est, "best_estimator_", None)
    if best is not None:
        run.set_tag("autolog.best_estimator", f"{type(best).__module__}.{type(best).__name__}")
