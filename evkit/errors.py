"""One exception hierarchy for everything a user can get wrong or the world can break.

Every EvkitError's message is a single line that says what happened and, where possible, what to do.
The CLI prints it as `evkit: error: <message>` and exits with `exit_code` (2), never a traceback.
"""
from __future__ import annotations


class EvkitError(Exception):
    """Base class: a user-facing error with a one-line message."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class UsageError(EvkitError):
    """Bad options: range syntax, field mappings, conflicting arguments."""


class ClusterError(EvkitError):
    """The cluster refused or could not serve a request."""


class BrokerUnreachable(ClusterError):
    """No broker answered within the bounded wait."""


class AuthenticationFailed(ClusterError):
    """SASL or TLS handshake failed (wrong password, untrusted certificate, ...)."""


class NotAuthorized(ClusterError):
    """The principal lacks an ACL; the message names the operation and resource."""


class UnknownTopic(ClusterError):
    """A topic or partition that the cluster does not have."""


class OffsetOutOfRange(ClusterError):
    """A requested start offset lies below the low watermark: that data is already deleted."""


class RegistryError(EvkitError):
    """A Schema Registry that cannot be reached, refuses the credentials, or fails a request."""


class DatasetError(EvkitError):
    """A dataset directory is corrupt, incomplete, tampered with, or holds another dump."""


__all__ = [
    "AuthenticationFailed",
    "BrokerUnreachable",
    "ClusterError",
    "DatasetError",
    "EvkitError",
    "NotAuthorized",
    "OffsetOutOfRange",
    "RegistryError",
    "UnknownTopic",
    "UsageError",
]
