#!/usr/bin/env bash
# registry.sh runs a local distribution registry (the pinned v3.1.2 that the
# end-to-end tests use) in the foreground, to try packyard's registry
# commands against:
#
#   hack/registry.sh [ADDR]     default ADDR 127.0.0.1:5000
#
# Storage is a temporary folder, removed when the registry stops (Ctrl-C).
# Deletes are enabled. It listens on loopback only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$ROOT/bin/tools}
ADDR=${1:-127.0.0.1:5000}

"$ROOT/hack/tools.sh" registry

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
cat >"$data/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $data/storage
  delete:
    enabled: true
http:
  addr: $ADDR
CONFIG

echo "registry: serving on http://$ADDR (storage $data/storage); Ctrl-C stops it" >&2
OTEL_TRACES_EXPORTER=none "$TOOLS_DIR/registry" serve "$data/config.yml"
