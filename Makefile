# evkit: `make demo` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
KAFKA_JARS := kafka/target/.resolved
REGISTRY_APP := kafka/target/registry/.resolved
NATIVE_READER := $(VENV)/.native-reader
SPARK_JARS := kafka/target/spark-jars/.resolved

.PHONY: demo test fuzz venv native-reader kafka-jars kafka-up kafka-down registry-app registry-up registry-down chromium clean \
	spark-jars s3-up s3-down

$(INSTALLED): pyproject.toml setup.py evkit/partitioning/_hashes.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@EVKIT_NATIVE_READER=0 $(BIN)/python -m pip install -q -e '.[test]'
	@$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

venv: $(INSTALLED)

$(KAFKA_JARS): kafka/pom.xml
	@rm -rf kafka/target/lib
	@mvn -q -B -Dstyle.color=never -f kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=target/lib -DincludeScope=runtime >&2
	@touch $@

kafka-jars: $(KAFKA_JARS)

## Start the local Kafka broker in the background; its bootstrap address is the last line.
kafka-up: $(KAFKA_JARS)
	@$(PYTHON) kafka/kafkactl.py up

kafka-down:
	@$(PYTHON) kafka/kafkactl.py down

## Apicurio Registry (the Schema Registry of the tests), unpacked from Maven Central; Maven's output goes to stderr.
$(REGISTRY_APP): kafka/registry-pom.xml
	@rm -rf kafka/target/registry
	@mvn -q -B -Dstyle.color=never -f kafka/registry-pom.xml dependency:unpack >&2
	@touch $@

registry-app: $(REGISTRY_APP)

## Start the local Schema Registry in the background; its URL (.../apis/ccompat/v7) is the last line.
registry-up: $(REGISTRY_APP)
	@$(PYTHON) kafka/registryctl.py up

registry-down:
	@$(PYTHON) kafka/registryctl.py down

## Spark's Kafka source and what it needs beyond pyspark's jars, from Maven Central (kafka/spark-pom.xml),
## so that the Spark tests download nothing; Maven's output goes to stderr.
$(SPARK_JARS): kafka/spark-pom.xml
	@rm -rf kafka/target/spark-jars
	@mvn -q -B -Dstyle.color=never -f kafka/spark-pom.xml \
		org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies -DoutputDirectory=target/spark-jars \
		-DincludeScope=runtime -DincludeArtifactIds=spark-sql-kafka-0-10_2.13,spark-token-provider-kafka-0-10_2.13,kafka-clients,commons-pool2 >&2
	@touch $@

spark-jars: $(SPARK_JARS)

## Start the S3-compatible server of the tests (moto) in the background; its endpoint URL is the last line.
s3-up: $(INSTALLED)
	@$(BIN)/python kafka/s3ctl.py up

s3-down:
	@$(BIN)/python kafka/s3ctl.py down

## The native dump reader (evkit/cluster/_native_reader.c: a C compiler, no librdkafka headers), built in
## place; `make demo` reads no Kafka and does without it. `evkit -v dump` names the reader in use.
$(NATIVE_READER): $(INSTALLED) evkit/cluster/_native_reader.c evkit/cluster/_rdkafka_abi.h setup.py
	@$(BIN)/python -m pip install -q 'setuptools>=77'
	@$(BIN)/python setup.py -q build_ext --inplace
	@touch $@

native-reader: $(NATIVE_READER)

## Run the incident review on the sample data in data/ and print where the report is.
demo: $(INSTALLED)
	@$(BIN)/evkit demo

## Headless Chromium renders the HTML report in a test: Debian's package, installed when missing (as root).
chromium:
	@command -v chromium >/dev/null || { test "$$(id -u)" = 0 && \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1; } || \
		echo "warning: chromium is missing and could not be installed (apt-get install chromium)" >&2

## The whole suite against real servers that the test session starts and stops, on two worker
## processes (one per core); each test file runs whole on one worker, so its module fixtures run once.
test: $(INSTALLED) $(NATIVE_READER) $(KAFKA_JARS) $(REGISTRY_APP) $(SPARK_JARS) chromium
	@$(BIN)/python -m pytest -n 2 --dist loadfile

## Before any change to a check: the differential test on 10,000 random examples (no broker needed).
## The seed is printed first; EVKIT_FUZZ_SEED=N make fuzz reruns the same examples.
fuzz: $(INSTALLED)
	@seed=$${EVKIT_FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; echo "fuzz seed: $$seed"; \
		EVKIT_FUZZ_SEED=$$seed EVKIT_FUZZ_EXAMPLES=$${EVKIT_FUZZ_EXAMPLES:-10000} \
		$(BIN)/python -m pytest --timeout=0 tests/analysis/test_reference_model.py

clean:
	rm -rf $(VENV) kafka/target .kafka .kafka-* reports out
