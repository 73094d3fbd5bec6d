"""A real Kafka broker behind SASL_SSL (SCRAM-SHA-256, TLS from a test CA) and StandardAuthorizer.

Everything secret is made at test time in the state directory: a test CA, a server certificate
for 127.0.0.1, a second ("rogue") CA that the broker does not use, and random SCRAM passwords. The
principals are

* `admin`   - a super user;
* `analyst` - exactly what a read-only analyst gets: Topic READ + DESCRIBE_CONFIGS, Group DESCRIBE,
  Cluster DESCRIBE (no Group READ, no WRITE anywhere);
* `outsider` - Topic DESCRIBE + DESCRIBE_CONFIGS, Group DESCRIBE, Cluster DESCRIBE but no Topic READ;
* `minimal` - Topic READ and nothing else (what evkit dump strictly needs).

Test-only shortcut: the PLAINTEXT and CONTROLLER listeners stay on 127.0.0.1 without
authentication and `User:ANONYMOUS` is a super user, so the broker can talk to itself under the
authorizer. A production cluster authenticates those listeners too.
"""
from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

import kafkactl

MECHANISM = "SCRAM-SHA-256"
USERS = ("admin", "analyst", "outsider", "minimal")

# (resource type, name, operations) granted to each non-admin principal.
ANALYST_ACLS = (
    (ResourceType.TOPIC, "*", (AclOperation.READ, AclOperation.DESCRIBE_CONFIGS)),
    (ResourceType.GROUP, "*", (AclOperation.DESCRIBE,)),
    (ResourceType.BROKER, "kafka-cluster", (AclOperation.DESCRIBE,)),
)
OUTSIDER_ACLS = (
    (ResourceType.TOPIC, "*", (AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS)),
    (ResourceType.GROUP, "*", (AclOperation.DESCRIBE,)),
    (ResourceType.BROKER, "kafka-cluster", (AclOperation.DESCRIBE,)),
)
MINIMAL_ACLS = ((ResourceType.TOPIC, "*", (AclOperation.READ,)),)


@dataclass
class SecureBroker:
    """Addresses, trust material and credentials of a running secure test broker."""

    state_dir: Path
    plaintext: str  # the unauthenticated super-user listener (test set-up only)
    secure: str  # the SASL_SSL listener an analyst uses
    ca: Path  # the CA that signed the broker's certificate
    rogue_ca: Path  # a CA the broker's certificate does not chain to
    passwords: dict[str, str]

    def client_config(self, user: str, *, password: str | None = None, ca: Path | None = None) -> dict[str, str]:
        """librdkafka properties for `user` on the SASL_SSL listener."""
        return {
            "bootstrap.servers": self.secure,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": MECHANISM,
            "sasl.username": user,
            "sasl.password": self.passwords[user] if password is None else password,
            "ssl.ca.location": str(ca or self.ca),
        }

    def admin(self) -> AdminClient:
        """An AdminClient on the plaintext super-user listener, for creating topics and reading groups."""
        return AdminClient({"bootstrap.servers": self.plaintext})


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA (key, certificate) named `name`."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", str(key), "-out", str(cert), cwd=directory)
    return key, cert


def make_server_pem(directory: Path, ca_key: Path, ca_cert: Path) -> Path:
    """A PEM keystore for the broker: PKCS#8 key + certificate for 127.0.0.1/localhost signed by the CA."""
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key),
             "-out", str(csr), cwd=directory)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
             "-days", "2", "-extfile", str(ext), "-out", str(cert), cwd=directory)
    keystore = directory / "server-keystore.pem"
    keystore.write_text(key.read_text() + cert.read_text() + ca_cert.read_text())
    return keystore


def _server_properties(keystore: Path) -> str:
    return f"""
sasl.enabled.mechanisms={MECHANISM}
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS;User:admin
"""


def grant(admin: AdminClient, principal: str, acls) -> None:
    bindings = [
        AclBinding(resource, name, ResourcePatternType.LITERAL, f"User:{principal}", "*", operation,
                   AclPermissionType.ALLOW)
        for resource, name, operations in acls
        for operation in operations
    ]
    for future in admin.create_acls(bindings, request_timeout=30).values():
        future.result()


def start(state_dir: Path, timeout: float = 120.0) -> SecureBroker:
    """Start a broker with a SASL_SSL listener and the three principals; return how to reach it."""
    kafkactl.down(state_dir / "kafka")  # never reuse a broker formatted with other passwords
    pki = state_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    ca_key, ca = make_ca(pki, "test-ca")
    _, rogue_ca = make_ca(pki, "rogue-ca")
    keystore = make_server_pem(pki, ca_key, ca)
    passwords = {user: f"pw-{user}-{secrets.token_hex(12)}" for user in USERS}
    port = kafkactl.free_port()
    format_args = []
    for user, password in passwords.items():
        format_args += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
    plaintext = kafkactl.up(state_dir / "kafka", timeout=timeout, extra={
        "listeners": f",SASL_SSL://127.0.0.1:{port}",
        "advertised": f",SASL_SSL://127.0.0.1:{port}",
        "protocol_map": ",SASL_SSL:SASL_SSL",
        "properties": _server_properties(keystore),
        "format_args": format_args,
    })
    broker = SecureBroker(state_dir, plaintext, f"127.0.0.1:{port}", ca, rogue_ca, passwords)
    admin = broker.admin()
    grant(admin, "analyst", ANALYST_ACLS)
    grant(admin, "outsider", OUTSIDER_ACLS)
    grant(admin, "minimal", MINIMAL_ACLS)
    return broker


def stop(broker: SecureBroker) -> None:
    kafkactl.down(broker.state_dir / "kafka")
