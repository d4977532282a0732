#!/usr/bin/env bash
# Sets up a fresh machine for msctl: system packages (Java for Kafka, Maven to fetch Kafka's
# jars once, kcat and psql for interop tests, tmux for terminal tests) and the npm workspace
# (which pins Node 24); chromium renders the load-test HTML report in its test. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
# The docker runtime and its tests: the engine (the tests start dockerd when none runs) and a
# static busybox, the shell of the images msctl builds when no registry can be reached.
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
# msctl export compose is checked with the Compose tool itself.
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The OpenTelemetry Python SDK for the test that sends msctl spans from another language.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); elif command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    log "missing system packages: ${missing[*]}"
    log "install them (Debian/Ubuntu: apt-get install -y ${missing[*]}) and run this again"
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing: ${missing[*]} — install them with your package manager and run this again"
    exit 1
  fi
  log "installing ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x node_modules/.bin/node || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing npm dependencies (Node 24 is pinned as a dev dependency)"
  npm ci --no-audit --no-fund --loglevel=error
else
  log "npm dependencies are up to date"
fi

# A venv (git-ignored) with the pinned OpenTelemetry Python SDK and OTLP/HTTP protobuf exporter,
# for test/traces/python/; reinstalled only when the pins change.
venv=.cache/python-otel
requirements=test/traces/python/requirements.txt
if [[ ! -x $venv/bin/python ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  log "installing the OpenTelemetry Python SDK into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
else
  log "the OpenTelemetry Python SDK in $venv is up to date"
fi

log "Node $(node_modules/.bin/node --version) for msctl and its tests"
npm run --silent build
log "ready (Kafka's jars are fetched into the cache on the first broker start)"
