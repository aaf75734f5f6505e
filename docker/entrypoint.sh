#!/bin/sh
# regsync-entrypoint: the image's ENTRYPOINT. The first argument picks the program:
#   regsyncd ARGS, regsync-dump ARGS, regsync-gen ARGS   that program
#   a regsyncd command or option (run, sync, publish,    regsyncd with these arguments
#     check-config, healthcheck, --help, --version, ...)
#   any other program in the image (sh, ...)             that program
#   anything else                                        regsyncd (which says what it does not know)
# The default CMD is `run`: regsyncd run with the configuration in REGSYNC_CONFIG.
set -e
case "${1-}" in
  regsyncd|regsync-dump|regsync-gen) exec "$@" ;;
  ''|-*|run|sync|publish|check-config|healthcheck) exec regsyncd "$@" ;;
esac
if command -v -- "$1" >/dev/null 2>&1; then
  exec "$@"
fi
exec regsyncd "$@"
