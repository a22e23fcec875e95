"""Evaluation where the registry is: :meth:`ModelService.evaluate
<modelyard.registry.service.ModelService.evaluate>` loads the version (and the baseline)
with its flavor from the blob store, reads the data once (a stored dataset version, or
record batches the caller streams) and keeps the report it computed.

The report is computed here, never taken from the caller, so what a server keeps is what
the server measured. Loading follows this service's settings: a flavor whose files run
code is refused unless ``registry.allow_code_formats`` is on, and the types skops loads
beyond its defaults are ``registry.trusted_types`` plus those the caller vouches for in
this process (through a server the caller cannot vouch: the REST route takes no such
list, the server's setting decides).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput
from modelyard.registry._loading import downloaded, load_model

if TYPE_CHECKING:
    from modelyard.datasets.entities import DatasetVersion
    from modelyard.registry.entities import Evaluation, ModelVersion
    from modelyard.registry.evaluation import Scorer
    from modelyard.registry.service import ModelService

__all__ = ["evaluate_version", "load_version"]


def load_version(service: ModelService, version: ModelVersion, trusted: Sequence[str]) -> Any:
    """The model object of ``version``, its files verified against their digests first.
    A flavor whose files run code loads only where the installation's and the project's
    setting allow it, and only without code of its own (``code_paths``, a ``pytorch``
    module's source): that is never put on the path of the process where the registry is."""
    from modelyard.projects.service import project_setting
    from modelyard.registry.flavors import CODE_FORMATS_SETTING

    def allowed(project: str) -> bool:
        with service.store.read() as conn:
            return project_setting(conn, project, CODE_FORMATS_SETTING)

    try:
        return load_model(
            version,
            partial(downloaded, service, version),
            installation=service.allow_code_formats,
            project=allowed,
            trusted=trusted,
            code_home=None,
        )
    except InvalidInput as exc:
        if exc.field != "trusted":
            raise
        raise InvalidInput(
            f"{exc.message} (to evaluate it where the registry is, its administrator may "
            "list them in the setting registry.trusted_types)",
            field="trusted",
        ) from None


def evaluate_version(
    service: ModelService,
    version: ModelVersion,
    data: DatasetVersion | Iterable[Any],
    target: str,
    *,
    baseline: ModelVersion | None,
    options: dict[str, Any],
    source: str,
    trusted: Sequence[str],
) -> Evaluation:
    """Evaluate ``version`` (checked writable by the caller) on ``data`` and keep the
    report; ``options``: :func:`~modelyard.registry.evaluation.evaluate`'s."""
    from modelyard.datasets.entities import DatasetVersion
    from modelyard.registry.evaluation import evaluate

    if isinstance(data, DatasetVersion):
        if service.datasets is None:
            raise InvalidInput("this registry reads no dataset versions", field="data")
        stored = service.datasets.get_by_id(data.id)  # its id decides; the caller may read it
        source = f"dataset {stored.project}/{stored.dataset} version {stored.version}"
        batches: Iterable[Any] = service.datasets.iter_batches(stored)
    elif isinstance(data, str | bytes) or not isinstance(data, Iterable):
        raise InvalidInput(
            "data must be a dataset version or an iterable of Arrow record batches", field="data"
        )
    else:
        batches = data
    trust = [*service.trusted_types, *trusted]
    report = evaluate(
        batches,
        target=target,
        model=_scorer(service, version, trust),
        baseline=_scorer(service, baseline, trust) if baseline is not None else None,
        **options,
    )
    return service.record_evaluation(version, report, baseline=baseline, source=source)


def _scorer(service: ModelService, version: ModelVersion, trusted: Sequence[str]) -> Scorer:
    """The version loaded, predicting through its flavor (a booster, an ONNX graph and a
    torch model predict through it)."""
    from modelyard.registry.evaluation import scorer_for
    from modelyard.registry.flavors import FLAVORS, predict

    model = load_version(service, version, trusted)
    flavor = FLAVORS.get(version.flavor)
    return scorer_for(model, _inputs(version), partial(predict, flavor, model))


def _inputs(version: ModelVersion) -> list[str] | None:
    """The columns a version takes, by its signature (None: not known)."""
    if version.signature is None or version.signature.inputs.columns is None:
        return None
    return [c.name for c in version.signature.inputs.columns]
