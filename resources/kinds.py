"""Resource kinds as declarations: one module per kind says what it is, and the surfaces are made
from it.

A kind's module (named by its :class:`resources.registry.Kind` member, the one registration line)
holds a :class:`KindDeclaration`: its request model, its register and job functions, the locations
its requests name, what it uses (the spec fields that name other resources, so what depends on it
is known) and how it is listed. From the declarations come the CLI's and the HTTP service's
``create / list / describe / delete / stop / log``, the job runner's dispatch, and the delete
guard; no surface has a table or an if/elif over kinds.

Declaration modules are light (no torch, no statsforecast): the register and job functions are
named, and imported only when they run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from resources.engine import Engine, LocalEngine
from resources.registry import Kind, Registry, Resource
from resources.workspace import Workspace


@dataclass(frozen=True)
class JobContext:
    """What a job function receives beside the resource's name: where things live, the engine its
    work runs on, and the few settings jobs read."""

    workspace: Workspace
    registry: Registry
    engine: Engine = field(default_factory=LocalEngine)
    storage_options: Callable[[str], dict[str, Any]] = lambda url: {}
    precision: str = "auto"
    max_training_memory_mb: int | None = None
    import_partition_bytes: int = 16 * 2**20  # datasets.long_scan.PARTITION_BYTES, the settings' default
    pretrained_model: str | None = None  # FORECAST_CHRONOS_MODEL: chronos's model path unless a request names one


@dataclass(frozen=True)
class Use:
    """A spec field of this kind that names a resource of ``kind``: that resource cannot be deleted
    while this one uses it (with ``while_in_flight``, only while this one's job runs)."""

    field: str
    kind: Kind
    while_in_flight: bool = False


@dataclass(frozen=True)
class Column:
    """A column of the kind's list: its title and its text for a resource."""

    title: str
    text: Callable[[Resource], str]


def flat_view(r: Resource) -> dict[str, Any]:
    """A resource as one flat JSON object: name, status, what was asked for, what came out (or, in
    flight, its progress)."""
    return {"name": r.name, "status": r.status.value, "message": r.message, **r.spec,
            "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat(), **r.result}


@dataclass(frozen=True)
class KindDeclaration:
    kind: Kind
    #: one line: what resources of this kind are (the CLI group's help)
    summary: str
    #: the job that makes one: "an import", "a training job"
    job: str
    #: what a request to create one holds (the HTTP body; the CLI's and AWS's requests map onto it)
    spec: type[BaseModel]
    #: ``"module:function"`` of ``run(ctx, name)``, which takes a registered resource
    #: (``CREATE_PENDING``) to its end; named, not imported, so that what serves requests never
    #: loads what trains (import-linter checks it)
    run: str
    #: ``"module:function"`` of ``register(ctx, spec)``, which checks a request (the ``spec`` model)
    #: and registers the resource ``CREATE_PENDING`` for ``run``; every surface creates through it
    register: str = ""
    #: spec fields that name a location to read (``source``) or write (``destination``), dotted for a
    #: nested model's (``hyperparameters.model_path``): the HTTP and AWS surfaces hold them to their
    #: allowlists before registering
    locations: Mapping[str, Literal["source", "destination"]] = field(default_factory=dict)
    uses: Sequence[Use] = ()
    #: the resource as one JSON object (``describe --json``, list ``--json``)
    view: Callable[[Resource], dict[str, Any]] = flat_view
    #: the list's columns after name and status
    columns: Sequence[Column] = ()
    #: what a delete tells the user beyond "deleted" (an export's files stay at the destination)
    on_delete: str = ""
    #: ``"module:function"`` of ``react(ctx, dataset)``, called after a dataset gets a new version
    #: (an incremental import): a monitor evaluates the forecasts the new actuals cover
    on_new_data: str = ""
    #: the name of a spec document of this kind (:mod:`resources.specs`; default: the noun, capitalised)
    document_name: str = ""
    #: ``"module:function"`` of ``update(ctx, resource, request, changed)``: a spec document asks an
    #: existing resource for other values of the fields ``changed``; the resource after the change,
    #: or ``None`` when the kind cannot make it (resources are immutable unless their kind says so)
    update: str = ""

    def job_function(self) -> Callable[[JobContext, str], Resource]:
        """The job function, imported."""
        found: Callable[[JobContext, str], Resource] = _imported(self.run)
        return found

    def update_function(self) -> Callable[[JobContext, Resource, Any, list[str]], Resource | None]:
        """The update function, imported."""
        found: Callable[[JobContext, Resource, Any, list[str]], Resource | None] = _imported(self.update)
        return found

    @property
    def document(self) -> str:
        """The kind's name in a spec document: ``Predictor``, ``DatasetImport``."""
        return self.document_name or self.noun.capitalize()

    def register_function(self) -> Callable[[JobContext, Any], Resource]:
        """The register function, imported."""
        found: Callable[[JobContext, Any], Resource] = _imported(self.register)
        return found

    @property
    def noun(self) -> str:
        return self.kind.value

    @property
    def plural(self) -> str:
        return f"{self.noun}es" if self.noun.endswith("s") else f"{self.noun}s"

    @property
    def a(self) -> str:
        """The noun with its article: ``a dataset``, ``an export``."""
        return f"{'an' if self.noun[0] in 'aeiou' else 'a'} {self.noun}"


def _imported(where: str) -> Any:
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)


def declaration(kind: Kind) -> KindDeclaration:
    """The declaration of ``kind``, from its module (imported on first use)."""
    module = importlib.import_module(kind.module)
    found: KindDeclaration = module.DECLARATION
    if found.kind != kind:
        raise TypeError(f"{kind.module} declares {found.kind!r}, not {kind!r}")
    return found


def declarations() -> list[KindDeclaration]:
    """Every kind's declaration, in the order of :class:`Kind`."""
    return [declaration(k) for k in Kind]


def announce_new_data(ctx: JobContext, dataset: str) -> list[str]:
    """Tell every kind that reacts to new data (``on_new_data``) that ``dataset`` has a new
    version; a reaction that fails is reported (the returned messages), never raised: the data has
    landed whatever its watchers make of it."""
    problems = []
    for d in declarations():
        if d.on_new_data:
            try:
                _imported(d.on_new_data)(ctx, dataset)
            except Exception as e:  # noqa: BLE001 -- a watcher's failure must not undo an import
                problems.append(f"{d.plural}: {type(e).__name__}: {e}")
    return problems


def used_by(kind: Kind) -> list[str]:
    """The kinds whose resources hold ``kind``'s back from deletion while they exist, each with its
    article (``a predictor``, ``an alias``)."""
    return [d.a for d in declarations() if any(u.kind == kind and not u.while_in_flight for u in d.uses)]


def delete_summary(kind: Kind) -> str:
    """``Delete a dataset (refused while a predictor or a forecast uses it)``: one line for every surface."""
    users = used_by(kind)
    return f"Delete {declaration(kind).a}" + (f" (refused while {' or '.join(users)} uses it)" if users else "")


def dependants(registry: Registry, kind: Kind, name: str) -> list[Resource]:
    """The resources that use ``kind`` ``name`` now (see :class:`Use`), which a delete waits for."""
    found = []
    for d in declarations():
        uses = [u for u in d.uses if u.kind == kind]
        if uses:  # each using kind's rows read once, whatever the number of its fields that name ``kind``
            found += [r for r in registry.list(d.kind)
                      if any(r.spec.get(u.field) == name and (not u.while_in_flight or r.status.in_flight)
                             for u in uses)]
    return found
