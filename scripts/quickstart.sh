#!/usr/bin/env bash
# The README's quick start: builds the example's image offline, brings examples/hello up on the
# embedded engine (the CLI starts the engine daemon on demand) and shows it answering.
# Needs root (containers, bridges, iptables) and the Debian packages of `npm run setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart: run as root (sudo npm run quickstart): containers need root" >&2
  exit 1
fi
[ -f dist/cli/main.js ] || npm run build
tsstack() { node bin/tsstack.js "$@"; }
echo "==> building the example image (tsstack.local/hello:1) from busybox-static"
examples/hello/build-image.sh >/dev/null
echo "==> tsstack up -d --wait -f examples/hello/stack.yml"
tsstack up -d --wait -f examples/hello/stack.yml
echo
tsstack compose -f examples/hello/stack.yml ps
port="${WEB_PORT:-8080}"
echo
url="http://127.0.0.1:${port}/cgi-bin/status"
echo "==> GET $url   (web calls the api by its service name)"
for _ in 1 2 3 4 5 6 7 8 9 10; do
  # Node's fetch: a fresh Debian need not have wget or curl.
  if out="$(node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then((r) => r.ok ? r.text() : Promise.reject(new Error(String(r.status)))).then((t) => process.stdout.write(t), () => process.exit(1))' "$url" 2>/dev/null)"; then break; fi
  out=""
  sleep 0.5
done
if [ -z "$out" ]; then
  echo "quickstart: the web service did not answer on 127.0.0.1:${port}" >&2
  exit 1
fi
echo "$out"
cat <<TXT

The stack runs on: open http://127.0.0.1:${port}/ . Look around with
  npx tsstack compose -f examples/hello/stack.yml ps | logs -f
  npx tsstack ps ; npx tsstack network ls ; npx tsstack volume ls
and take it down (with its volume) with
  npx tsstack down -v -f examples/hello/stack.yml
TXT
