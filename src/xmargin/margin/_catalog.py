"""Models by name: a model kind, a shipped preset or a preset file, case-insensitive (FORMATS.md ``MODEL``),
and the catalogue ``xmargin models`` prints.

``resolve_model("pm")`` is the ``pm`` kind with its default preset; ``resolve_model("cross-binance")`` the
kind the preset serves (``cross`` for a ratio preset) with that preset; ``resolve_model("my.yaml")`` reads
the file's ``kind``; ``resolve_model("isolated", preset="cross-binance")`` a kind with any preset of a kind
it accepts. A preset of the wrong kind for the model is bad input naming both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from xmargin.core import InputError
from xmargin.margin._model import MarginModel, get_model, model_names, preset_kinds
from xmargin.margin._presets import (
    PRESET_TYPES,
    preset_document,
    preset_info,
    shipped_path,
    shipped_presets,
)

DEFAULT_PRESETS = {
    "isolated": "cross-fixed",
    "cross": "cross-fixed",
    "standard": "standard-deribit",
    "pm": "pm-deribit",
    "fhs": "fhs",
    "drift": "drift-v2",
    "mango": "mango-v4",
    "derive": "derive-pmrm",
}
KIND_MODELS = {
    "ratio": ("cross", "isolated"),
    "standard": ("standard",),
    "pm": ("pm",),
    "fhs": ("fhs",),
    "drift": ("drift",),
    "mango": ("mango",),
    "derive": ("derive",),
}
"""Model kinds each preset kind serves (the first is the one a preset name alone selects)."""


def _preset_kind(ref: str) -> str:
    doc, label = preset_document(ref, default=ref)
    kind = doc.get("kind")
    if kind not in PRESET_TYPES:
        raise InputError(where=f"{label}: kind", expected=f"one of {', '.join(PRESET_TYPES)}", found=kind)
    return str(kind)


def _is_file(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml", ".json")) or "/" in ref or Path(ref).is_file()


def resolve_model(name: str, preset: str | None = None) -> MarginModel:
    """The model ``name`` stands for (module docstring), with ``preset`` if given."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(where="model", expected="a model or preset name", found=name)
    key = name.strip()
    kinds = model_names()
    if key.lower() in kinds:
        kind = key.lower()
        if preset is None:
            return get_model(kind)
        pkind = _preset_kind(preset if _is_file(preset) else preset.lower())
        if pkind not in preset_kinds(kind):
            raise InputError(
                where="preset",
                expected=f"a preset for the {kind} model ({' or '.join(preset_kinds(kind))} kind)",
                found=f"{preset} (a {pkind} preset, for {' or '.join(KIND_MODELS[pkind])})",
            )
        return get_model(kind, preset=preset if _is_file(preset) else preset.lower())
    if preset is not None:
        raise InputError(
            where="preset", expected=f"only with a model kind ({', '.join(kinds)})", found=preset
        )
    ref = key if _is_file(key) else key.lower()
    if not _is_file(key) and shipped_path(ref) is None:
        raise InputError(
            where="model",
            expected=f"a model ({', '.join(kinds)}), a preset ({', '.join(shipped_presets())}) or a preset file",
            found=name,
        )
    kind = KIND_MODELS[_preset_kind(ref)][0]
    return get_model(kind, preset=ref)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One entry of ``xmargin models``: a model kind (``type`` model) or a shipped preset (``type`` preset),
    its kind, the model kinds it serves, what it is, its sources and its parameters (a model kind's are
    those of its default preset)."""

    name: str
    type: Literal["model", "preset"]
    kind: str
    models: tuple[str, ...]
    default_preset: str
    description: str
    source: str
    sources: Mapping[str, str]
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Catalog:
    """``xmargin models --json`` (FORMATS.md): every model and preset, with its parameters and sources."""

    models: tuple[ModelInfo, ...]
    schema_version: int = 1

    @property
    def presets(self) -> tuple[ModelInfo, ...]:
        return tuple(m for m in self.models if m.type == "preset")

    @property
    def kinds(self) -> tuple[ModelInfo, ...]:
        return tuple(m for m in self.models if m.type == "model")


def _joined(sources: Mapping[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in sources.items())


def catalog() -> Catalog:
    from xmargin.margin._model import _REGISTRY

    presets = {p: preset_info(p, KIND_MODELS[_preset_kind(p)]) for p in shipped_presets()}
    entries: list[ModelInfo] = []
    for name, factory in _REGISTRY.items():
        default = DEFAULT_PRESETS.get(name, "")
        p = presets.get(default)
        own = str(getattr(factory, "source", "")).strip()
        entries.append(
            ModelInfo(
                name=name,
                type="model",
                kind=name,
                models=(name,),
                default_preset=default,
                description=(factory.__doc__ or "").strip().splitlines()[0],
                source=own or (_joined(p.sources) if p is not None else ""),
                sources=dict(p.sources) if p is not None else {},
                parameters=dict(p.parameters) if p is not None else {},
            )
        )
    for p in presets.values():
        entries.append(
            ModelInfo(
                name=p.name,
                type="preset",
                kind=p.kind,
                models=p.models,
                default_preset=p.name,
                description=p.description,
                source=_joined(p.sources),
                sources=dict(p.sources),
                parameters=dict(p.parameters),
            )
        )
    return Catalog(tuple(entries))
