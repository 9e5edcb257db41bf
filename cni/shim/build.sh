#!/bin/sh
# Builds dist/cni/shim/tortie-cni (the C fast path of the `tortie` CNI plugin)
# with the Node plugin of this checkout compiled in as its fallback. Static
# when libc.a is there (a CNI binary may be copied onto any host), dynamic
# otherwise. Without gcc the shim is skipped with a warning: the Node plugin
# (dist/cni/src/main.js) works alone, only slower.
set -eu
cd "$(dirname "$0")/../.."
out=dist/cni/shim/tortie-cni
if ! command -v gcc >/dev/null 2>&1; then
  echo "cni/shim/build.sh: gcc is missing (Debian: gcc libc6-dev); not building $out" >&2
  exit 0
fi
mkdir -p dist/cni/shim
node=$(command -v node)
plugin=$(pwd)/dist/cni/src/main.js
static=
if gcc -print-file-name=libc.a | grep -q /; then static=-static; fi
gcc -O2 $static -Wall -Wextra -Werror -o "$out.tmp" \
  -DTORTIE_NODE="\"$node\"" -DTORTIE_PLUGIN="\"$plugin\"" cni/shim/tortie-cni-shim.c
mv "$out.tmp" "$out"
