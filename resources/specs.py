"""Declarative specs: every kind's request as a document, ``{kind, name, spec}`` in YAML or JSON,
applied idempotently (``forecast apply -f FILE``).

A document's ``kind`` is the kind's document name (``DatasetImport``, ``Predictor``, ``Forecast``,
``Export``, ``Monitor``, ``Import``, ``Alias``: :attr:`resources.kinds.KindDeclaration.document`);
its ``spec`` holds the same fields as the kind's HTTP body (the declaration's ``spec`` model, whose
JSON Schema :func:`schema` publishes). Applying a document registers the resource and runs its job
to the end; applying it again changes nothing; a document that asks an existing resource for
something else is refused naming the fields, since resources are immutable, unless its kind
declares an update for that change (``update``: a dataset import whose ``source`` alone changed
adds the new source to the dataset as a new version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resources.errors import ConflictError, InvalidInputError
from resources.kinds import JobContext, KindDeclaration, declarations
from resources.registry import Resource


class SpecDocument(BaseModel):
    """One document of a spec file."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="the kind's document name: DatasetImport, Predictor, Forecast, ...")
    name: str
    spec: dict[str, Any] = Field(default_factory=dict, description="the kind's request fields, as its HTTP body")


@dataclass
class Applied:
    """What applying one document did."""

    action: Literal["created", "unchanged", "updated"]
    resource: Resource
    declaration: KindDeclaration


def document_kinds() -> dict[str, KindDeclaration]:
    """Document name -> the declaration of every kind that can be created."""
    return {d.document: d for d in declarations() if d.register}


def load_documents(text: str, source: str) -> list[Any]:
    """The documents of a YAML or JSON text as parsed (YAML's ``---`` separates several; JSON is
    YAML).

    Raises
    ------
    InvalidInputError
        Not YAML, or no document.
    """
    import yaml

    try:
        raw = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise InvalidInputError(f"{source}: not YAML or JSON: {e}") from None
    if not raw:
        raise InvalidInputError(f"{source}: no document")
    return raw


def document_of(raw: Any, where: str) -> SpecDocument:
    """One parsed document as a spec document.

    Raises
    ------
    InvalidInputError
        Not ``{kind, name, spec}``, or an unknown kind; ``where`` names the file and position.
    """
    try:
        parsed = SpecDocument.model_validate(raw)
    except ValidationError as e:
        fields = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'document'}: {err['msg']}" for err in e.errors())
        raise InvalidInputError(f"{where}: expected {{kind, name, spec}}: {fields}") from None
    kinds = document_kinds()
    if parsed.kind not in kinds:
        raise InvalidInputError(f"{where}: unknown kind {parsed.kind!r}; one of {', '.join(kinds)}")
    return parsed


def read_documents(text: str, source: str) -> list[SpecDocument]:
    """The spec documents of a YAML or JSON text (:func:`load_documents`, :func:`document_of`)."""
    return [document_of(raw, f"{source}, document {i}") for i, raw in enumerate(load_documents(text, source), 1)]


def request_of(doc: SpecDocument) -> BaseModel:
    """The document's request, checked by its kind's model (as an HTTP body would be).

    Raises
    ------
    InvalidInputError
        A field the kind does not have, a missing one, or a value out of its range.
    """
    d = document_kinds()[doc.kind]
    try:
        return d.spec.model_validate({**doc.spec, "name": doc.name})
    except ValidationError as e:
        fields = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'spec'}: {err['msg']}" for err in e.errors())
        raise InvalidInputError(f"{doc.kind} {doc.name!r}: {fields}") from None


#: Where a resource made from a document keeps the document's request (what was asked, before
#: the kind resolved it: ``freq: Q`` rather than the stored ``Q-DEC``).
APPLIED = "applied"


def _asked(request: BaseModel) -> dict[str, Any]:
    asked: dict[str, Any] = request.model_dump(mode="json", exclude={"name"}, exclude_unset=True)
    return asked


def changed_fields(request: BaseModel, existing: Resource) -> list[str]:
    """The fields the document gives whose values differ from what the resource was made with:
    the request of the document that made it, or, for a resource made otherwise, its stored spec
    (fields it does not hold are not compared; a dataset's long-format options are stored under
    ``long_format``). A field the earlier document left out compares with its default."""
    if APPLIED in existing.spec:
        before = existing.spec[APPLIED]
        asked = request.model_dump(mode="json", exclude={"name"})
        given = set(before) | set(_asked(request))
        defaults = type(request).model_validate({"name": existing.name, **before}).model_dump(mode="json")
        return sorted(f for f in given if not _same(asked.get(f), defaults.get(f)))
    stored = {**existing.spec.get("long_format", {}), **existing.spec}
    return sorted(f for f, v in _asked(request).items() if f in stored and not _same(v, stored[f]))


def _same(asked: Any, stored: Any) -> bool:
    """Whether a document's value is the stored one, as JSON compares them (a comma-separated
    string is the list it names: ``types: 0.1,0.5,mean``; fields the document leaves out of a
    nested object are the stored ones)."""
    if isinstance(asked, str) and isinstance(stored, list):
        asked = [part.strip() for part in asked.split(",") if part.strip()]
    if isinstance(asked, dict) and isinstance(stored, dict):
        return all(k in stored and _same(v, stored[k]) for k, v in asked.items())
    if isinstance(asked, list | tuple) and isinstance(stored, list | tuple):
        return len(asked) == len(stored) and all(_same(a, b) for a, b in zip(asked, stored, strict=True))
    return bool(asked == stored)


def check_document(ctx: JobContext, doc: SpecDocument) -> None:
    """What can be known before anything is applied: the request is the kind's, and an existing
    resource of a kind that declares no update is asked for nothing else.

    Raises
    ------
    InvalidInputError, ConflictError
        As :func:`apply_document`.
    """
    d = document_kinds()[doc.kind]
    request = request_of(doc)
    if d.update or not ctx.registry.exists(d.kind, doc.name):
        return
    changed = changed_fields(request, ctx.registry.get(d.kind, doc.name))
    if changed:
        raise _immutable(d, doc.name, changed)


def _immutable(d: KindDeclaration, name: str, changed: list[str]) -> ConflictError:
    return ConflictError(f"{d.noun} {name!r} exists with other {', '.join(changed)}: {d.plural} cannot be "
                         f"changed; apply the new spec under another name, or delete {name!r} first")


def apply_document(ctx: JobContext, doc: SpecDocument) -> Applied:
    """Create the document's resource and run its job here to the end; or nothing, if it exists
    with this spec.

    Raises
    ------
    InvalidInputError
        The spec is not the kind's request.
    ConflictError
        The resource exists with another spec (the message names the fields).
    """
    d = document_kinds()[doc.kind]
    request = request_of(doc)
    if not ctx.registry.exists(d.kind, doc.name):
        r = d.register_function()(ctx, request)
        ctx.registry.update_spec(d.kind, doc.name, {**r.spec, APPLIED: _asked(request)}, result=r.result)
        return Applied("created", d.job_function()(ctx, doc.name), d)
    existing = ctx.registry.get(d.kind, doc.name)
    changed = changed_fields(request, existing)
    if not changed:
        return Applied("unchanged", existing, d)
    updated = d.update_function()(ctx, existing, request, changed) if d.update else None
    if updated is not None:
        return Applied("updated", updated, d)
    raise _immutable(d, doc.name, changed)


def schema() -> dict[str, Any]:
    """The JSON Schema of a spec document: one ``{kind, name, spec}`` variant per kind, each
    ``spec`` the kind's request model's schema (without ``name``, which the document holds)."""
    variants = []
    for kind, d in document_kinds().items():
        spec = d.spec.model_json_schema()
        spec["properties"] = {k: v for k, v in spec.get("properties", {}).items() if k != "name"}
        spec["required"] = [r for r in spec.get("required", []) if r != "name"]
        variants.append({"type": "object", "title": kind, "additionalProperties": False, "required": ["kind", "name"],
                         "properties": {"kind": {"const": kind}, "name": {"type": "string"}, "spec": spec}})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "forecast spec document",
            "oneOf": variants}
