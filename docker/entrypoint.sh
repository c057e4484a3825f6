#!/bin/sh
# The image's entrypoint: `chorus serve` reads /etc/chorus/chorus.toml when
# one is mounted there; every other command runs as given.
set -eu
if [ "${1:-serve}" = "serve" ] && [ -f /etc/chorus/chorus.toml ]; then
  [ "$#" -gt 0 ] && shift
  set -- serve --config /etc/chorus/chorus.toml "$@"
fi
exec chorus "$@"
