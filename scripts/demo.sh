#!/usr/bin/env bash
# The first thing to try: installs what is needed (idempotent), starts a local
# etcd on 127.0.0.1:2379 (if not running already), applies the examples and
# lists the pools. `./tortie etcd stop` stops the etcd again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
./tortie etcd start
./tortie apply -f examples/
./tortie get ippools -o wide
