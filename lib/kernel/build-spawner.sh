#!/bin/sh
# Builds dist/lib/kernel/tortie-spawner (lib/kernel/tortie-spawner.c), the
# helper through which the CNI agent runs `ip` without forking its own Node
# process. Static when libc.a is there, dynamic otherwise. Without gcc it is
# skipped with a warning: lib/kernel/spawner.ts then falls back to spawning
# from Node, which works, only slower. An argument builds to that path instead
# (the unit tests build their own).
set -eu
cd "$(dirname "$0")/../.."
out=${1:-dist/lib/kernel/tortie-spawner}
if ! command -v gcc >/dev/null 2>&1; then
  echo "lib/kernel/build-spawner.sh: gcc is missing (Debian: gcc libc6-dev); not building $out" >&2
  exit 0
fi
mkdir -p "$(dirname "$out")"
static=
if gcc -print-file-name=libc.a | grep -q /; then static=-static; fi
gcc -O2 $static -Wall -Wextra -Werror -o "$out.tmp" lib/kernel/tortie-spawner.c
mv "$out.tmp" "$out"
