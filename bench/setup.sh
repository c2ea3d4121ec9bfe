#!/bin/sh
# The bench's peers (issue 14): rsync (local and daemon) and Syncthing, from the distribution's
# packages. Installs only what is missing, and says what it did; the bench runs without them
# (their columns stay empty), so this is never required for CI.
set -eu

missing=""
for tool in rsync syncthing; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done

if [ -z "$missing" ]; then
  echo "bench peers present: $(rsync --version | head -n 1); $(syncthing --version)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "bench setup: missing:$missing, and no apt-get here: install them with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "bench setup: installing$missing (apt-get)"
$sudo apt-get update
$sudo apt-get install -y $missing
for tool in $missing; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench setup: apt-get did not install $tool" >&2; exit 1; }
done
echo "bench peers installed: $(rsync --version | head -n 1); $(syncthing --version)"
