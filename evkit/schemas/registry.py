"""A read-only Schema Registry client: the Confluent-compatible API (Confluent's registry, Apicurio's
ccompat API), through confluent-kafka's SchemaRegistryClient, with errors a person can read.

Registry settings travel with the Kafka ones: `-X schema.registry.basic.auth.user.info=USER:PASSWORD`,
or the same line in the `-F` properties file; the `schema.registry.` prefix is removed and the rest
given to SchemaRegistryClient (`basic.auth.user.info`, `bearer.auth.*`, `ssl.ca.location`, ...).
Secrets never reach a message: every error names the URL without its credentials, and any secret
value is blanked out of what the server or the HTTP library said.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

from ..cluster.connection import REDACTED, is_secret, redact
from ..errors import RegistryError, UsageError
from .store import Reference, StoredSchema

PREFIX = "schema.registry."
# SchemaRegistryClient wants numbers for these; -X and -F give text.
_NUMERIC = ("timeout", "max.retries", "retries.wait.ms", "retries.max.wait.ms", "cache.capacity", "cache.latest.ttl.sec")
# evkit's defaults (any -X schema.registry.* overrides them): a stopped registry fails in about a second.
DEFAULTS = {"timeout": 10, "max.retries": 2, "retries.wait.ms": 200, "retries.max.wait.ms": 1000}


def split_settings(settings: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the librdkafka settings, the registry settings with `schema.registry.` removed) of one -X/-F set."""
    kafka = {k: v for k, v in settings.items() if not k.startswith(PREFIX)}
    return kafka, {k[len(PREFIX):]: v for k, v in settings.items() if k.startswith(PREFIX)}


def redact_settings(settings: dict[str, str]) -> dict[str, str]:
    """`settings` as a manifest records them: secrets redacted, `schema.registry.url` without credentials."""
    shown = redact(settings)
    if f"{PREFIX}url" in shown:
        shown[f"{PREFIX}url"] = display_url(shown[f"{PREFIX}url"])
    return shown


def display_url(url: str) -> str:
    """The URL(s) without user:password, as manifests, logs and errors show them."""
    parts = []
    for one in url.split(","):
        split = urlsplit(one.strip())
        host = split.hostname or ""
        if split.port is not None:
            host = f"{host}:{split.port}"
        parts.append(urlunsplit(split._replace(netloc=host)) if split.netloc else one.strip())
    return ",".join(parts)


def open_registry(url: str | None, settings: dict[str, str]) -> Registry | None:
    """The registry at `url` (or `schema.registry.url` in the -X/-F settings) with the
    `schema.registry.*` settings of `settings`; None when neither names a registry."""
    registry_settings = split_settings(settings)[1]
    url = url or registry_settings.pop("url", None)
    registry_settings.pop("url", None)
    return Registry(url, registry_settings) if url else None


class Registry:
    """The calls a dump and `evkit schemas fetch` make: reachability, a schema by id, a subject version."""

    def __init__(self, url: str, settings: dict[str, str] | None = None):
        if not url or not url.strip():
            raise UsageError("--schema-registry needs a URL, e.g. http://registry:8081")
        self.url = display_url(url)
        settings = dict(settings or {})
        self._secrets = [v for k, v in settings.items() if is_secret(k) and v]
        self._secrets += [p for one in url.split(",") if (p := urlsplit(one.strip()).password)]
        userinfo = [(unquote(p.username or ""), unquote(p.password)) for p in map(urlsplit, url.split(",")) if p.password]
        if userinfo and "basic.auth.user.info" not in settings:  # given as the header, never as part of a logged URL
            settings["basic.auth.user.info"] = ":".join(userinfo[0])
        config: dict = {**DEFAULTS, "url": self.url}
        for key, value in settings.items():
            if key in _NUMERIC:
                try:
                    value = float(value) if "." in value else int(value)
                except ValueError:
                    raise UsageError(f"-X {PREFIX}{key}={value}: expected a number") from None
            config[key] = value
        # authlib's deprecation notice on import is not the user's business; authlib sets its own
        # "always" filter on import, so the notice is recorded and dropped rather than filtered
        with warnings.catch_warnings(record=True):
            from confluent_kafka.schema_registry import SchemaRegistryClient
            from confluent_kafka.schema_registry.error import OAuthTokenError, SchemaRegistryError
        self._server_error, self._token_error = SchemaRegistryError, OAuthTokenError
        try:
            self._client = SchemaRegistryClient(config)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"invalid schema registry settings: {self._scrub(str(exc))}") from None

    def check(self) -> None:
        """Fail with one line unless the registry answers (before a dump reads any record)."""
        try:
            self._call(self._client.get_schema_types, "reach")
        except _Unknown:
            raise RegistryError(f"{self.url} answered 404 to GET /schemas/types: not a Confluent-compatible schema "
                                "registry API (Apicurio's is http://HOST:PORT/apis/ccompat/v7)") from None

    def schema(self, schema_id: int, *, subjects: Iterable[str] = ()) -> StoredSchema | None:
        """The schema of `schema_id` (subject and version: the first of `subjects` it is registered
        under, else the first the registry lists), or None when the registry does not know the id."""
        try:
            found = self._call(lambda: self._client.get_schema(schema_id), f"fetch schema {schema_id} from")
            versions = self._call(lambda: self._client.get_schema_versions(schema_id),
                                  f"list the versions of schema {schema_id} in")
        except _Unknown:
            return None
        preferred = [v for s in subjects for v in versions if v.subject == s]
        chosen = (preferred or versions or [None])[0]
        return _stored(schema_id, chosen and chosen.subject, chosen and chosen.version, found)

    def version(self, subject: str, version: int) -> StoredSchema:
        """A subject's version (how references name the schemas they import)."""
        try:
            registered = self._call(lambda: self._client.get_version(subject, version),
                                    f"fetch {subject} version {version} from")
        except _Unknown:
            raise RegistryError(f"the schema registry at {self.url} has no {subject} version {version} "
                                "(a referenced schema)") from None
        return _stored(registered.schema_id, registered.subject, registered.version, registered.schema)

    def with_references(self, schema_id: int, *, subjects: Iterable[str] = ()) -> list[StoredSchema] | None:
        """The schema of `schema_id` and every schema it references, recursively (each once); None
        when the registry does not know the id."""
        first = self.schema(schema_id, subjects=subjects)
        if first is None:
            return None
        found, pending = {first.id: first}, list(first.references)
        seen = {(first.subject, first.version)}
        while pending:
            ref = pending.pop(0)
            if (ref.subject, ref.version) in seen:
                continue
            seen.add((ref.subject, ref.version))
            schema = self.version(ref.subject, ref.version)
            found.setdefault(schema.id, schema)
            pending.extend(schema.references)
        return list(found.values())

    def _call(self, call, action: str):
        import httpx

        try:
            return call()
        except self._server_error as exc:
            if exc.http_status_code == 404:
                raise _Unknown() from None
            if exc.http_status_code in (401, 403):
                raise RegistryError(f"the schema registry at {self.url} refused the credentials (HTTP "
                                    f"{exc.http_status_code}) when asked to {action} it: check -X {PREFIX}basic.auth.user.info "
                                    f"or {PREFIX}bearer.auth.*") from None
            raise RegistryError(f"cannot {action} the schema registry at {self.url}: HTTP {exc.http_status_code}: "
                                f"{self._scrub(str(exc.error_message))}") from None
        except (httpx.HTTPError, OSError, self._token_error) as exc:  # network, TLS, OAuth token
            raise RegistryError(f"cannot {action} the schema registry at {self.url}: "
                                f"{self._scrub(str(exc) or type(exc).__name__)}") from None

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class _Unknown(Exception):
    """The registry answered 404: it does not know what was asked for."""


def _stored(schema_id: int, subject: str | None, version: int | None, schema) -> StoredSchema:
    return StoredSchema(schema_id, subject, version, (schema.schema_type or "AVRO").upper(), schema.schema_str,
                        tuple(Reference(r.name, r.subject, r.version) for r in schema.references or ()))
