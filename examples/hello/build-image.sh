#!/usr/bin/env bash
# Builds the example's image offline from Debian's busybox-static and imports it into the engine's
# image store as tsstack.local/hello:1 (until tsstack has `build:`). Idempotent.
#   usage: examples/hello/build-image.sh [tsstack global options, e.g. --root DIR --socket PATH]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tsstack="$here/../../bin/tsstack.js"
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "build-image: $busybox is missing: install the Debian package busybox-static" >&2; exit 1; }

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,tmp,data,www/cgi-bin,srv/cgi-bin,proc,sys,dev,root}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"

# web: a page that asks the api, by its service name, for the worker's progress.
cat > "$rootfs/www/index.html" <<'HTML'
<!doctype html><title>hello from tsstack</title>
<h1>hello from tsstack</h1><p>The api says: <a href="/cgi-bin/status">/cgi-bin/status</a></p>
HTML
cat > "$rootfs/www/cgi-bin/status" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "web $(hostname) asked http://api:9000 and got:"
wget -q -O - http://api:9000/cgi-bin/status || echo "(the api did not answer)"
CGI
# api: reports how far the worker got, from the shared volume.
cat > "$rootfs/srv/index.html" <<'HTML'
ok
HTML
cat > "$rootfs/srv/cgi-bin/status" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "${GREETING:-hello} (api replica $(hostname))"
echo "worker ticks so far: $(wc -l < /data/ticks 2>/dev/null || echo 0)"
CGI
chmod 755 "$rootfs/www/cgi-bin/status" "$rootfs/srv/cgi-bin/status"

tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
  node "$tsstack" "$@" import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' - tsstack.local/hello:1
