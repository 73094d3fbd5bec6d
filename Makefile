# evkit: `make demo` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
KAFKA_JARS := kafka/target/.resolved

.PHONY: demo test venv kafka-jars kafka-up kafka-down lint clean

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[test]'
	@$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

venv: $(INSTALLED)

$(KAFKA_JARS): kafka/pom.xml
	@rm -rf kafka/target/lib
	@mvn -q -B -f kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=target/lib -DincludeScope=runtime
	@touch $@

kafka-jars: $(KAFKA_JARS)

## Start the local Kafka broker in the background; its bootstrap address is the last line.
kafka-up: $(KAFKA_JARS)
	@$(PYTHON) kafka/kafkactl.py up

kafka-down:
	@$(PYTHON) kafka/kafkactl.py down

## Run the incident review on the sample data in data/ and print where the report is.
demo: $(INSTALLED)
	@$(BIN)/evkit demo

## The whole suite against a real broker that the test session starts and stops.
test: $(INSTALLED) $(KAFKA_JARS)
	@$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) kafka/target .kafka .kafka-* reports out
