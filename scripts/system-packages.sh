#!/bin/sh
# The Debian packages quarterdeck needs beside its Python dependencies, installed with
# apt-get. Idempotent and quiet when everything is already there, so `make install`
# can run it every time. Each package is pinned to the upstream release the project is
# tested with; the Debian revision may move with security updates, the release may not.
#
#   prometheus 2.42   the real Prometheus server that showback and rollout analysis
#                     query on a dev cluster (started by quarterdeck.devcluster.prometheus)
#   chromium,         the real browser (and its WebDriver) the dashboard's browser test
#   chromium-driver   drives through Selenium. Not pinned (empty prefix): Debian ships
#                     chromium's security fixes as new upstream releases and drops the old
#                     ones from the archive, so a pin would stop working within weeks.
set -eu

# package and the upstream release (version prefix) it must have
PACKAGES="prometheus:2.42. chromium: chromium-driver:"

missing=""
for entry in $PACKAGES; do
    pkg=${entry%%:*}
    want=${entry#*:}
    have=$(dpkg-query -W -f='${Status} ${Version}' "$pkg" 2>/dev/null || true)
    case "$have" in
        "install ok installed $want"*) ;;
        *) missing="$missing $entry" ;;
    esac
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-packages: apt-get not found; install by hand:$missing" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

$SUDO apt-get update -qq
specs=""
for entry in $missing; do
    pkg=${entry%%:*}
    want=${entry#*:}
    # the newest Debian revision of the pinned upstream release
    version=$(apt-cache madison "$pkg" | awk -v w="$want" '$3 ~ "^"w {print $3; exit}')
    if [ -z "$version" ]; then
        echo "system-packages: Debian offers no $pkg $want* (apt-cache madison $pkg)" >&2
        exit 1
    fi
    specs="$specs $pkg=$version"
done
echo "system-packages: installing$specs" >&2
# Services are never started by this install: the project starts its own servers.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $specs >/dev/null
