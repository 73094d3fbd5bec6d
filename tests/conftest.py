"""Shared fixtures: one real Apache Kafka broker per test session, and fresh topics on it.

The broker is the one kafka/kafkactl.py runs from Maven-resolved jars. Set EVKIT_BOOTSTRAP to use
a broker that is already up (e.g. from `make kafka-up`); otherwise the session starts its own in a
temporary directory and stops it at the end. With CI=true a broker that cannot start fails the
run; elsewhere the broker tests are skipped with the reason.
"""
from __future__ import annotations

import os
import re
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "kafka"))
import kafkactl  # noqa: E402


def _session_server(tmp_path_factory, *, env_var: str, ctl, what: str, timeout: float):
    """Yield the address of the server `env_var` names, else of one `ctl` (a kafka/*ctl.py module)
    starts in a temporary directory and stops at the end. With CI=true a server that cannot start
    fails the run; elsewhere the tests that need it are skipped with the reason."""
    if os.environ.get(env_var):
        yield os.environ[env_var].rstrip("/")
        return
    state_dir = tmp_path_factory.mktemp(ctl.__name__)
    try:
        address = ctl.up(state_dir, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any start failure is reported the same way
        message = f"the test {what} did not start: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield address
    finally:
        ctl.down(state_dir)


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory) -> str:
    """Bootstrap address of a running real broker."""
    yield from _session_server(tmp_path_factory, env_var="EVKIT_BOOTSTRAP", ctl=kafkactl, what="Kafka broker",
                               timeout=120)


@pytest.fixture(scope="session")
def admin(bootstrap) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def wait_for_leaders(admin: AdminClient, topic: str, partitions: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic, timeout=5).topics.get(topic)
        if meta and meta.error is None and len(meta.partitions) == partitions and all(
            p.leader >= 0 for p in meta.partitions.values()
        ):
            return
        time.sleep(0.1)
    raise TimeoutError(f"topic {topic} has no leader for every partition after {timeout}s")


@pytest.fixture
def make_topic(admin, request):
    """Create a topic with a unique name: make_topic(partitions=1, config={...}, prefix=None) -> name."""

    def make(partitions: int = 1, config: dict[str, str] | None = None, prefix: str | None = None) -> str:
        base = re.sub(r"[^a-zA-Z0-9._-]", "-", prefix or request.node.name)[:60]
        name = f"{base}-{uuid.uuid4().hex[:8]}"
        futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})], operation_timeout=30)
        futures[name].result(30)
        wait_for_leaders(admin, name, partitions)
        return name

    return make



@pytest.fixture
def native_kernel():
    """evkit.partitioning.hashes' C kernel (evkit/partitioning/_hashes.c). It must be built here: users get it wherever
    `pip install` found a C compiler, so the tests run on it."""
    import evkit.partitioning.hashes

    assert evkit.partitioning.hashes._native is not None, (
        "evkit/partitioning/_hashes.c is not built: install a C compiler (gcc) and run `make venv` again")
    return evkit.partitioning.hashes._native


@pytest.fixture(params=["c", "numpy"])
def hash_backend(request, monkeypatch) -> str:
    """Run a test on both ways evkit.partitioning.hashes computes: its C kernel and its NumPy fallback."""
    import evkit.partitioning.hashes

    if request.param == "c":
        request.getfixturevalue("native_kernel")
    else:
        monkeypatch.setattr(evkit.partitioning.hashes, "_native", None)
    return request.param


@pytest.fixture(params=["native", "python"])
def reader(request, monkeypatch) -> str:
    """Run a dump test on both of evkit dump's readers: the native one (evkit/cluster/_native_reader.c,
    which must be built here, as `make test` does) and the Python one. $EVKIT_READER reaches the API
    and the `evkit dump` subprocesses alike."""
    if request.param == "native":
        from evkit.cluster.native import native_module

        assert native_module() is not None, (
            "evkit/cluster/_native_reader.c is not built: install a C compiler (gcc) and run `make native-reader`")
    monkeypatch.setenv("EVKIT_READER", request.param)
    return request.param


@pytest.fixture(scope="session")
def schema_registry(tmp_path_factory) -> str:
    """URL of a running real Schema Registry's Confluent-compatible API (http://.../apis/ccompat/v7).

    It is Apicurio Registry, run by kafka/registryctl.py from the archive kafka/registry-pom.xml
    resolves. Set EVKIT_SCHEMA_REGISTRY to use one that is already up (e.g. from `make
    registry-up`); otherwise the session starts its own (in-memory storage) in a temporary
    directory and stops it at the end. Like `bootstrap`: with CI=true a registry that cannot start
    fails the run; elsewhere the tests that need it are skipped with the reason.
    """
    import registryctl

    yield from _session_server(tmp_path_factory, env_var="EVKIT_SCHEMA_REGISTRY", ctl=registryctl,
                               what="Schema Registry", timeout=120)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> str:
    """Endpoint URL (http://127.0.0.1:PORT) of a running real S3-compatible server: moto's, run by
    kafka/s3ctl.py. Set EVKIT_S3_ENDPOINT to use one that is already up (e.g. from `make s3-up`);
    otherwise the session starts its own and stops it at the end. Like `bootstrap`: with CI=true a
    server that cannot start fails the run; elsewhere the tests that need it are skipped. Dummy AWS
    credentials are set for the session (the server takes any; no real one is ever used)."""
    for name, value in (("AWS_ACCESS_KEY_ID", "evkit-test"), ("AWS_SECRET_ACCESS_KEY", "evkit-test-secret"),
                        ("AWS_REGION", "us-east-1")):
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    import s3ctl

    yield from _session_server(tmp_path_factory, env_var="EVKIT_S3_ENDPOINT", ctl=s3ctl, what="S3 server", timeout=60)


@pytest.fixture
def s3_url(s3_endpoint, request) -> str:
    """A fresh, empty bucket on the test S3 server, as the URL of a dataset in it (endpoint in the query)."""
    import pyarrow.fs

    bucket = f"evkit-{uuid.uuid4().hex[:12]}"
    host = s3_endpoint.split("://", 1)[1]
    pyarrow.fs.S3FileSystem(endpoint_override=host, scheme="http", allow_bucket_creation=True).create_dir(bucket)
    return f"s3://{bucket}/ds?endpoint_override={s3_endpoint}"


@pytest.fixture(scope="session")
def spark_stderr(tmp_path_factory) -> Path:
    """The file the Spark session's JVM and Python workers write their stderr to (see `spark`)."""
    return tmp_path_factory.mktemp("spark") / "stderr.log"


@pytest.fixture(scope="session")
def spark(s3_endpoint, spark_stderr):
    """One Spark session (local[2]) for every Spark test: starting one costs 15-20 s on two cores.

    Spark's Kafka source comes from kafka/target/spark-jars, which `make spark-jars` (a prerequisite
    of `make test`) resolves from Maven Central, so no test downloads anything. It depends on
    `s3_endpoint` so that its Python workers inherit the tests' AWS settings. Its JVM starts with
    stderr on `spark_stderr` (the workers inherit it), so that a test can read what Spark printed."""
    jars = sorted((REPO / "kafka" / "target" / "spark-jars").glob("*.jar"))
    assert jars, "no Spark Kafka connector in kafka/target/spark-jars: run `make spark-jars`"
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    saved = os.dup(2)
    try:
        with open(spark_stderr, "ab") as sink:
            os.dup2(sink.fileno(), 2)  # the JVM inherits fd 2 when the session launches it
        session = (SparkSession.builder.master("local[2]").appName("evkit tests")
                   .config("spark.jars", ",".join(map(str, jars)))
                   .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", "2").config("spark.driver.memory", "1g")
                   .getOrCreate())
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
