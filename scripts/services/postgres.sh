#!/usr/bin/env bash
# Throwaway PostgreSQL server on loopback, for Cabinet's tests and CI.
#
#   scripts/services/postgres.sh start DIR   # start (or re-print env of a running one)
#   scripts/services/postgres.sh stop DIR    # pg_ctl stop -m fast; nothing left running
#
# On success `start` writes DIR/env (shell-sourceable) and prints the same to
# stdout:
#   CABINET_TEST_DATABASE_URL=postgres://cabinet@127.0.0.1:PORT/cabinet
# All progress and error messages go to stderr.
#
# The server listens on TCP 127.0.0.1:PORT only, plus a unix socket in
# DIR/socket.  Superuser `cabinet`, database `cabinet`, trust auth (tests
# only!), fsync/synchronous_commit/full_page_writes off, max_connections 200.
# PostgreSQL refuses to run as root, so as root the server runs as the
# `postgres` system user (created if missing) and DIR/data is owned by it.
#
# Environment overrides:
#   CABINET_PG_PORT     TCP port                          (default: a free random port)
#   CABINET_PG_TIMEOUT  seconds to wait for start/stop     (default: 60)
#   CABINET_PG_BINDIR   directory holding initdb/pg_ctl   (default: newest /usr/lib/postgresql/*/bin)
set -euo pipefail
set +m

PROG=postgres.sh
TIMEOUT=${CABINET_PG_TIMEOUT:-60}
PG_OS_USER=postgres

# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat >&2 <<EOF
usage: $PROG start DIR | stop DIR
  start  start a throwaway PostgreSQL under DIR, write DIR/env and print it
  stop   stop the server started under DIR
EOF
  exit 2
}

# ---------------------------------------------------------------- packages --

find_bindir() {
  if [[ -n ${CABINET_PG_BINDIR:-} ]]; then
    [[ -x $CABINET_PG_BINDIR/initdb && -x $CABINET_PG_BINDIR/pg_ctl ]] ||
      die "CABINET_PG_BINDIR=$CABINET_PG_BINDIR has no initdb/pg_ctl"
    echo "$CABINET_PG_BINDIR"
    return 0
  fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres && -x $d/psql ]]; then echo "$d"; fi
  done | sort -V | tail -n 1
}

ensure_packages() {
  BINDIR=$(find_bindir)
  [[ -n $BINDIR ]] && return 0
  log "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; installing package postgresql"
  apt_install postgresql
  BINDIR=$(find_bindir)
  [[ -n $BINDIR ]] || die "package postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
}

ensure_os_user() {
  ((EUID == 0)) || return 0
  getent passwd "$PG_OS_USER" >/dev/null && return 0
  log "creating system user $PG_OS_USER"
  useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
    --shell /usr/sbin/nologin "$PG_OS_USER" || die "could not create user $PG_OS_USER"
}

# Run a command as the server's OS user (ourselves unless we are root), from /
# so that an unreadable working directory does not matter, without our lock fd.
# Callers that redirect its output wrap the call in ( ) so that the redirection
# happens in a child: a trap that fires meanwhile then still logs to stderr.
as_pg() {
  if ((EUID == 0)); then
    (cd / && runuser -u "$PG_OS_USER" -- "$@" 9>&-)
  else
    (cd / && "$@" 9>&-)
  fi
}

# ------------------------------------------------------------------- ports --

# ------------------------------------------------------------- processes --

# Where the data lives: DIR/data, or a /tmp fallback recorded in DIR/data-location
# when the postgres user cannot reach DIR (e.g. DIR under /root).
load_location() {
  local root=$DIR
  if [[ -f $DIR/data-location ]]; then
    root=$(<"$DIR/data-location")
  fi
  DATA=$root/data
  SOCKDIR=$root/socket
  LOGFILE=$root/postgres.log
}

# PID of the postmaster of $DATA if it is alive and really serves $DATA.
postmaster_pid() {
  local pid cmdline
  [[ -r $DATA/postmaster.pid ]] || return 1
  read -r pid <"$DATA/postmaster.pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $'\n'$cmdline$'\n' == *$'\n'"$DATA"$'\n'* ]] || return 1
  echo "$pid"
}

# Direct children of $1 (the postmaster's backends and workers).
children_of() {
  local f stat rest
  for f in /proc/[0-9]*/stat; do
    { read -r stat <"$f"; } 2>/dev/null || continue
    rest=${stat##*) }    # "S PPID ..."
    rest=${rest#* }      # "PPID ..."
    if [[ ${rest%% *} == "$1" ]]; then
      f=${f#/proc/}
      echo "${f%/stat}"
    fi
  done 2>/dev/null
  return 0
}

alive() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Stop the server: pg_ctl stop -m fast, then SIGQUIT/SIGKILL as a last resort.
stop_server() {
  local pid kids=() k i
  pid=$(postmaster_pid) || return 0
  mapfile -t kids < <(children_of "$pid")
  if ! (as_pg "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t "$TIMEOUT" stop) \
    </dev/null >>"$DIR/pg_ctl.log" 2>&1; then
    show_log "$DIR/pg_ctl.log" 10
    log "pg_ctl stop failed; sending SIGQUIT then SIGKILL to postmaster $pid"
    if postmaster_pid >/dev/null; then
      kill -QUIT "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        alive "$pid" || break
        sleep 0.1
      done
      if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
  fi
  # The postmaster waits for its children, but make sure none is left.
  for ((i = 0; i < 50; i++)); do
    local left=0
    alive "$pid" && left=1
    for k in "${kids[@]}"; do alive "$k" && left=1; done
    ((left)) || return 0
    sleep 0.1
  done
  for k in "$pid" "${kids[@]}"; do
    if alive "$k"; then kill -KILL "$k" 2>/dev/null || true; fi
  done
  sleep 0.5
  ! alive "$pid"
}

env_text() {
  printf 'CABINET_TEST_DATABASE_URL=postgres://cabinet@127.0.0.1:%s/cabinet\n' "$PORT"
}

psql_cmd() {
  PGCONNECT_TIMEOUT=5 "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" \
    -U cabinet "$@" </dev/null 9>&-
}

already_running() {
  [[ -f $ENV_FILE ]] || return 1
  local url
  url=$(sed -n 's/^CABINET_TEST_DATABASE_URL=//p' "$ENV_FILE")
  [[ $url =~ ^postgres://cabinet@127\.0\.0\.1:([0-9]+)/cabinet$ ]] || return 1
  PORT=${BASH_REMATCH[1]}
  postmaster_pid >/dev/null || return 1
  [[ $(psql_cmd -d cabinet -A -t -c 'SELECT 1' 2>/dev/null) == 1 ]]
}

# Escape a value for a single-quoted postgresql.conf string.
conf_quote() {
  local v=${1//\\/\\\\}
  printf "'%s'" "${v//\'/\'\'}"
}

# ------------------------------------------------------------------ start --

cleanup_on_failure() {
  local rc=$?
  ((rc == 0)) && return 0
  log "start failed; stopping anything started under $DIR"
  stop_server || true
  rm -f -- "$ENV_FILE" "$ENV_FILE.tmp"
  exit "$rc"
}

# Remove a previous instance's files (only names this script creates).
wipe_state() {
  local root=''
  [[ -f $DIR/data-location ]] && root=$(<"$DIR/data-location")
  rm -rf -- "$DIR/data" "$DIR/socket" "$ENV_FILE" "$DIR/postgres.log" \
    "$DIR/initdb.log" "$DIR/pg_ctl.log" "$DIR/data-location"
  if [[ -n $root && $root == /tmp/cabinet-pg.* && -d $root ]]; then
    rm -rf -- "$root"
  fi
}

do_start() {
  local t0
  t0=$(now)
  ensure_packages
  load_location

  if already_running; then
    log "already running in $DIR (127.0.0.1:$PORT)"
    env_text
    return 0
  fi

  if [[ -e $DATA || -e $ENV_FILE ]]; then
    log "found a stopped or unhealthy instance in $DIR; replacing it"
    stop_server || die "could not stop the previous server in $DIR"
  fi
  wipe_state
  load_location

  ensure_os_user
  trap cleanup_on_failure EXIT
  trap 'log "interrupted"; exit 130' INT
  trap 'log "terminated"; exit 143' TERM

  # The server's OS user must be able to reach DIR; if not (e.g. DIR under
  # /root), keep the data in a private /tmp folder recorded in DIR/data-location.
  if ((EUID == 0)) && ! (cd / && runuser -u "$PG_OS_USER" -- test -x "$DIR"); then
    local root
    root=$(mktemp -d /tmp/cabinet-pg.XXXXXX)
    chmod 755 "$root"
    printf '%s\n' "$root" >"$DIR/data-location"
    log "user $PG_OS_USER cannot reach $DIR; keeping the data in $root (removed by stop)"
    load_location
  fi

  mkdir -p -- "$DATA" "$SOCKDIR"
  chmod 700 "$DATA"
  chmod 755 "$SOCKDIR"
  : >"$LOGFILE"
  : >"$DIR/pg_ctl.log"
  if ((EUID == 0)); then
    chown "$PG_OS_USER:" "$DATA" "$SOCKDIR" "$LOGFILE"
  fi
  [[ $LOGFILE == "$DIR/postgres.log" ]] || ln -sfn -- "$LOGFILE" "$DIR/postgres.log"

  # initdb: superuser `cabinet`, trust auth, UTF-8.
  local locale_args=(--locale=C.UTF-8)
  locale -a 2>/dev/null | grep -qix 'c\.utf-\?8' || locale_args=(--no-locale)
  if ! (as_pg "$BINDIR/initdb" -D "$DATA" -U cabinet -A trust -E UTF8 "${locale_args[@]}" -N) \
    </dev/null >"$DIR/initdb.log" 2>&1; then
    show_log "$DIR/initdb.log"
    die "initdb failed"
  fi

  # Unix socket inside DIR unless its path would be too long (107 bytes max).
  local sockdirs
  sockdirs=$(conf_quote "$SOCKDIR")
  if ((${#SOCKDIR} + 16 > 107)); then
    log "WARNING: $SOCKDIR is too long for a unix socket path; TCP only"
    sockdirs="''"
  fi

  cat >"$DATA/pg_hba.conf" <<'EOF'
# Generated by scripts/services/postgres.sh -- throwaway test server, trust auth.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
EOF

  for _ in 1 2 3; do
    if [[ -n ${CABINET_PG_PORT:-} ]]; then
      valid_port "$CABINET_PG_PORT" || die "bad CABINET_PG_PORT: $CABINET_PG_PORT"
      PORT=$CABINET_PG_PORT
    else
      # shellcheck disable=SC2119 # no ports to avoid
      PORT=$(pick_port)
    fi
    port_in_use "$PORT" && die "port $PORT is already in use"
    # postgresql.auto.conf is read last, so it overrides postgresql.conf.
    cat >"$DATA/postgresql.auto.conf" <<EOF
# Generated by scripts/services/postgres.sh -- throwaway test server.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = $sockdirs
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
    ((EUID == 0)) && chown "$PG_OS_USER:" "$DATA/pg_hba.conf" "$DATA/postgresql.auto.conf"

    log "starting PostgreSQL in $DIR on 127.0.0.1:$PORT"
    if (as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t "$TIMEOUT" start) \
      </dev/null >>"$DIR/pg_ctl.log" 2>&1; then
      break
    fi
    stop_server || true
    if [[ -z ${CABINET_PG_PORT:-} ]] && grep -q 'could not bind\|Address already in use' "$LOGFILE"; then
      log "port $PORT was taken meanwhile; retrying with another port"
      continue
    fi
    show_log "$DIR/pg_ctl.log" 10
    show_log "$LOGFILE"
    die "pg_ctl start failed"
  done
  postmaster_pid >/dev/null || { show_log "$LOGFILE"; die "server did not start"; }

  if ! (psql_cmd -d postgres -c 'CREATE DATABASE cabinet') >>"$DIR/pg_ctl.log" 2>&1; then
    show_log "$DIR/pg_ctl.log" 10
    die "could not create database cabinet"
  fi

  env_text >"$ENV_FILE.tmp"
  mv -f -- "$ENV_FILE.tmp" "$ENV_FILE"
  log "PostgreSQL ready on 127.0.0.1:$PORT in $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')s (env: $ENV_FILE)"
  env_text
  trap - EXIT INT TERM
}

do_stop() {
  load_location
  if [[ ! -e $DATA && ! -f $ENV_FILE ]]; then
    log "nothing to stop in $DIR"
    return 0
  fi
  BINDIR=$(find_bindir)
  [[ -n $BINDIR ]] || die "no PostgreSQL binaries found (set CABINET_PG_BINDIR)"
  if ! stop_server; then
    die "the server in $DIR could not be stopped"
  fi
  rm -f -- "$ENV_FILE"
  # A /tmp fallback data folder lives outside DIR: do not leak it.
  if [[ -f $DIR/data-location ]]; then
    local root
    root=$(<"$DIR/data-location")
    if [[ $root == /tmp/cabinet-pg.* && -d $root ]]; then rm -rf -- "$root"; fi
    rm -f -- "$DIR/data-location" "$DIR/postgres.log"
  fi
  log "stopped ($DIR)"
}

# ------------------------------------------------------------------- main --

(($# == 2)) || usage
CMD=$1
case $CMD in start | stop) ;; *) usage ;; esac
[[ -n $2 ]] || usage

if [[ $CMD == stop && ! -d $2 ]]; then
  log "no such directory: $2 (nothing to stop)"
  exit 0
fi
mkdir -p -- "$2" || die "cannot create $2"
DIR=$(cd -- "$2" && pwd -P) || die "cannot resolve $2"
case $DIR in *$'\n'*) die "DIR must not contain a newline" ;; esac
ENV_FILE=$DIR/env
BINDIR='' DATA='' SOCKDIR='' LOGFILE='' PORT=''

if ! [[ $TIMEOUT =~ ^[0-9]+$ ]] || ((TIMEOUT == 0)); then
  die "bad CABINET_PG_TIMEOUT: $TIMEOUT"
fi

# One start/stop at a time per DIR.
exec 9>"$DIR/.lock"
flock -w 120 9 || die "another start/stop is running on $DIR"

case $CMD in
  start) do_start ;;
  stop) do_stop ;;
esac
