#!/bin/sh
# The image's entrypoint: every chorus command (serve, the default; admin;
# providers check; config print) reads /etc/chorus/chorus.toml when one is
# mounted there, unless the command names its own --config.
set -eu
if [ -f /etc/chorus/chorus.toml ]; then
  case " $* " in
    *" --config "* | *" --config="*) ;;
    *) set -- "$@" --config /etc/chorus/chorus.toml ;;
  esac
fi
exec chorus "$@"
