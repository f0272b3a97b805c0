#!/bin/sh
# The cabinet command for operators: the service's settings, run as the service's user.
#   sudo install -m 0755 deploy/cabinet-cli.sh /usr/local/bin/cabinet
#   sudo cabinet stats
set -eu
set -a
. /etc/cabinet/cabinet.env
set +a
exec runuser -u cabinet -- /usr/bin/node /opt/cabinet/dist/cli/index.js "$@"
