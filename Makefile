# virtd — the two commands the README promises, plus `make bench`.
#
#   make run    install what is missing, run the daemon in the foreground
#   make test   install everything the tests need; ruff, docs, trial
#   make bench  run benchmarks/*.py (not ab.py, which compares two settings)
#
# Works on a fresh Debian 12 as root with only Python 3.11 (and make).
# Stamps in .stamps/ make a second run fast; editing setup.cfg or
# pyproject.toml re-installs the project.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip
STAMPS := .stamps
RUN_DIR := run

# System packages. Build deps for libvirt-python come first; the test suite
# also needs a real libvirtd, virsh, sshd, nc and socat (see docs).
APT_RUN := python3-venv python3-dev gcc pkg-config libvirt-dev
APT_TEST := $(APT_RUN) libvirt-daemon libvirt-clients netcat-openbsd socat \
	openssh-server openssh-client

LINT_PATHS = $(wildcard virtd tests twisted benchmarks examples docs/_ext docs/examples)

.PHONY: help run test bench lint docs trial apt install-run install-test \
	clean distclean

help:
	@echo "make run    - install what is missing, then run the daemon (sockets in ./$(RUN_DIR)/)"
	@echo "make test   - install test dependencies, then ruff, the docs (-W) and trial"
	@echo "make bench  - run benchmarks/*.py"

# --- system packages -------------------------------------------------------
# dpkg is asked every time (cheap); apt runs only when something is missing.
# A temporary policy-rc.d keeps package scripts from starting services (sshd,
# libvirtd): the tests start their own private instances.
define apt_ensure
	@missing=""; \
	for p in $(1); do \
		dpkg -s "$$p" 2>/dev/null | grep -q '^Status: install ok installed' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "==> installing system packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then sudo=""; \
		elif command -v sudo >/dev/null; then sudo="sudo"; \
		else echo "error: need root (or sudo) to apt-get install:$$missing" >&2; exit 1; fi; \
		if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' | $$sudo tee /usr/sbin/policy-rc.d >/dev/null; \
			$$sudo chmod 755 /usr/sbin/policy-rc.d; \
			trap '$$sudo rm -f /usr/sbin/policy-rc.d' EXIT; \
		fi; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
	fi
endef

# One apt step per invocation: the full list when a test-side goal was asked
# for, else just what `make run` needs (so a fresh machine runs apt once).
TEST_GOALS := test lint docs trial bench install-test
APT_PKGS = $(if $(filter $(TEST_GOALS),$(MAKECMDGOALS)),$(APT_TEST),$(APT_RUN))

apt:
	$(call apt_ensure,$(APT_PKGS))

# --- the virtualenv ----------------------------------------------------------
# pyvenv.cfg is a plain file written once per venv, so it is a reliable
# timestamp (bin/python is a symlink to the system interpreter).
$(VENV)/pyvenv.cfg: | apt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# editable_mode=compat puts the checkout itself on sys.path, which is what
# lets twistd find twisted/plugins/virtd_plugin.py (a strict editable install
# would hide that file from Twisted's plugin scan).
$(STAMPS)/install-test: setup.cfg $(VENV)/pyvenv.cfg | apt
	$(PIP) install -e '.[server,test,docs]' --config-settings editable_mode=compat
	@mkdir -p $(STAMPS)
	@touch $(STAMPS)/install-run $@

$(STAMPS)/install-run: setup.cfg $(VENV)/pyvenv.cfg | apt
	$(PIP) install -e '.[server]' --config-settings editable_mode=compat
	@mkdir -p $(STAMPS)
	@touch $@

# The apt check runs on every invocation even when the stamp is fresh.
install-test: apt $(STAMPS)/install-test
install-run: apt $(STAMPS)/install-run

# --- make test -----------------------------------------------------------------

lint: install-test
	$(VENV)/bin/ruff check $(LINT_PATHS)

docs: install-test
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html

trial: install-test
	$(VENV)/bin/trial tests

# Every step runs even if an earlier one fails, so one run shows all the
# problems; the exit status is non-zero if any step failed.
test: install-test
	@status=0; \
	echo "==> ruff check $(LINT_PATHS)"; \
	$(VENV)/bin/ruff check $(LINT_PATHS) || status=1; \
	echo "==> sphinx-build -W -b html docs docs/_build/html"; \
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html || status=1; \
	echo "==> trial tests"; \
	$(VENV)/bin/trial tests || status=1; \
	if [ $$status -ne 0 ]; then echo "==> make test: FAILED (see above)" >&2; fi; \
	exit $$status

# --- make run ------------------------------------------------------------------

run: install-run
	@mkdir -p $(RUN_DIR)
	@if [ ! -f twisted/plugins/virtd_plugin.py ]; then \
		echo "error: twisted/plugins/virtd_plugin.py is missing, so twistd has no 'virtd' command yet." >&2; \
		exit 1; \
	fi
	@if ! $(VPY) -c 'import sys; from twisted.plugin import getPlugins; from twisted.application.service import IServiceMaker; sys.exit(not any(p.tapname == "virtd" for p in getPlugins(IServiceMaker)))'; then \
		echo "error: twistd does not see the 'virtd' plugin (twisted/plugins/virtd_plugin.py)." >&2; \
		echo "       Check that it imports cleanly: $(VPY) -c 'import twisted.plugins.virtd_plugin'" >&2; \
		exit 1; \
	fi
	@# A socket file left by a daemon that was killed refuses connections:
	@# remove it so the new daemon can bind; a live one is left alone.
	@$(VPY) -c 'import errno, os, socket, sys; stale = [p for p in sys.argv[1:] if os.path.exists(p) and socket.socket(socket.AF_UNIX).connect_ex(p) == errno.ECONNREFUSED]; [os.unlink(p) for p in stale]; stale and print("removed stale sockets:", *stale)' \
		$(RUN_DIR)/virtd-sock $(RUN_DIR)/virtd-sock-ro
	@echo "virtd: starting in the foreground on test:///default (Ctrl-C stops it)"
	@echo "  read-write socket: $(CURDIR)/$(RUN_DIR)/virtd-sock"
	@echo "  read-only socket:  $(CURDIR)/$(RUN_DIR)/virtd-sock-ro"
	@echo "Connect from another terminal:"
	@echo "  virsh -c 'test+unix:///default?socket=$(CURDIR)/$(RUN_DIR)/virtd-sock' list --all"
	@echo "  virsh -r -c 'test+unix:///default?socket=$(CURDIR)/$(RUN_DIR)/virtd-sock-ro' list --all"
	@echo "  $(CURDIR)/$(VPY) -c 'import libvirt; c = libvirt.open(\"test+unix:///default?socket=$(CURDIR)/$(RUN_DIR)/virtd-sock\"); print([d.name() for d in c.listAllDomains()])'"
	exec $(VENV)/bin/twistd --pidfile $(RUN_DIR)/virtd.pid -n virtd \
		--unix $(RUN_DIR)/virtd-sock --unix-ro $(RUN_DIR)/virtd-sock-ro

# --- make bench ----------------------------------------------------------------

bench: install-test
	@shopt -s nullglob; files=(benchmarks/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "error: no benchmarks/*.py to run" >&2; exit 1; fi; \
	status=0; \
	for f in "$${files[@]}"; do \
		[[ $$f == benchmarks/ab.py ]] && continue; \
		echo "==> $$f"; \
		$(VPY) "$$f" || { echo "==> $$f FAILED" >&2; status=1; }; \
	done; \
	exit $$status

# --- housekeeping --------------------------------------------------------------

clean:
	rm -rf _trial_temp docs/_build build dist *.egg-info $(RUN_DIR)
	find virtd tests twisted -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true

distclean: clean
	rm -rf $(VENV) $(STAMPS)
