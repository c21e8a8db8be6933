#!/usr/bin/env bash
# Installs or builds the third-party receivers the interop tests run
# against, and prints how long each took.
#
#   integration/interop/setup.sh [debian] [victorialogs]   (no argument: both)
#
# debian        rsyslog with imrelp and gtls (Debian packages), and syslog-ng
#               unpacked beside them: the two packages conflict (each is "the"
#               system log daemon), so syslog-ng-core is extracted, not
#               installed, and its libraries are installed instead (~30 s).
# victorialogs  go install of VictoriaLogs into $DIR/bin (~45 s on 2 cores).
#
# $SIEMBRIDGE_INTEROP_DIR (default ~/.cache/siembridge-interop) holds what is
# built or unpacked; the tests look there. The build never touches
# siembridge's go.mod: VictoriaLogs is installed by module@version, outside
# any module.
#
# VictoriaLogs is also the HEC receiver (its /services/collector/event): the
# OpenTelemetry Collector's splunkhec receiver cannot be built from the Go
# module proxy this project uses — it serves the receiver, but refuses the
# contrib modules it imports (internal/splunk, pkg/translator/splunk,
# extension/ackextension: "not available") at every release tried (v0.141.0
# to v0.165.1).
set -euo pipefail

DIR="${SIEMBRIDGE_INTEROP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/siembridge-interop}"
mkdir -p "$DIR/bin"

# VictoriaLogs' newest release the module proxy serves.
VICTORIALOGS_VERSION=v1.52.1

timed() { # timed NAME CMD...: runs CMD, then prints NAME and the seconds it took
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "interop setup: $name ready in $((SECONDS - start))s"
}

debian() {
  local need=()
  command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog)
  [ -e /usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so ] || [ -e /usr/lib/rsyslog/imrelp.so ] || need+=(rsyslog-relp)
  [ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || [ -e /usr/lib/rsyslog/lmnsd_gtls.so ] || need+=(rsyslog-gnutls)
  if [ ! -x "$DIR/syslog-ng/usr/sbin/syslog-ng" ]; then
    # syslog-ng-core's own dependencies, so that the extracted binary runs.
    need+=(libivykis0 libnet1 libjson-c5 libpcre3 libwrap0 libglib2.0-0 libcap2)
  fi
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  if [ ! -x "$DIR/syslog-ng/usr/sbin/syslog-ng" ]; then
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq syslog-ng-core 2>/dev/null)
    rm -rf "$DIR/syslog-ng"
    dpkg-deb -x "$tmp"/syslog-ng-core_*.deb "$DIR/syslog-ng"
    rm -rf "$tmp"
  fi
}

victorialogs() {
  [ -x "$DIR/bin/victoria-logs" ] && return 0
  GOFLAGS=-buildvcs=false GOBIN="$DIR/bin" \
    go install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(debian victorialogs)
for t in "${targets[@]}"; do
  case "$t" in
  debian | victorialogs) timed "$t" "$t" ;;
  *)
    echo "interop setup: unknown target $t (debian, victorialogs)" >&2
    exit 2
    ;;
  esac
done
