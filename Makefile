# The two commands a user runs: `make demo` and `make test`. Both install what they need
# (venv, Python packages, Debian packages, Kafka jars) and reuse it on the next run.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
APT_PACKAGES := mosquitto mosquitto-clients libmosquitto-dev prometheus prometheus-alertmanager chromium gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang libclang-rt-14-dev
KAFKA_STAMP := deploy/kafka/libs/.resolved-$(shell sha1sum deploy/kafka/pom.xml | cut -c1-12)
PYTEST_ARGS ?=
# make demo DEMO_ARGS=--quick (or --devices 100, --teacher keyword; see python -m services.demo --help)
DEMO_ARGS ?=

.PHONY: setup test demo bench lint firmware fuzz clean-var

LOADGEN := var/bin/mqttload

setup: $(PIP_STAMP) apt-deps $(KAFKA_STAMP) $(LOADGEN)

$(PIP_STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

apt-deps:
	@bash deploy/bootstrap/apt.sh $(APT_PACKAGES)

$(KAFKA_STAMP): deploy/kafka/pom.xml
	mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=libs -DincludeScope=runtime
	@rm -f deploy/kafka/libs/.resolved-* && touch $@

# The benchmarks' MQTT load generator (C on Debian's libmosquitto-dev).
$(LOADGEN): benchmarks/loadgen/mqttload.c | apt-deps
	@mkdir -p $(dir $@)
	cc -O2 -Wall -std=gnu11 -o $@ $< -lmosquitto -lpthread

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PY) -m services.demo $(DEMO_ARGS)

bench: setup
	$(PY) -m benchmarks

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

clean-var:
	rm -rf var/
