#!/usr/bin/env bash
# Builds the standalone binary for this machine, copies it alone into an empty temp folder
# outside the repository, and runs the end-to-end suites and the binary checks against it
# (DROPSIM_BIN), and serve over TLS with it (its certificate library is embedded). Extra
# arguments go to `bun test`.
#   bash scripts/test-binary.sh            (npm run test:binary)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) target=linux-x64 ;;
  Linux-aarch64 | Linux-arm64) target=linux-arm64 ;;
  Darwin-x86_64) target=darwin-x64 ;;
  Darwin-arm64) target=darwin-arm64 ;;
  *) echo "No standalone binary target for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

bun scripts/build-binaries.ts --build-only "$target"
alone=$(mktemp -d "${TMPDIR:-/tmp}/dropsim-bin-XXXXXX")
trap 'rm -rf "$alone"' EXIT
cp "dist/dropsim-$target" "$alone/dropsim"
echo "Testing $alone/dropsim ($(cd "$alone" && ./dropsim --version))"
DROPSIM_BIN="$alone/dropsim" bun test --timeout 120000 tests/e2e tests/binary tests/tls/serve-tls.test.ts "$@"
