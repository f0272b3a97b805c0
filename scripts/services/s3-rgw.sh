#!/usr/bin/env bash
# Throwaway single-node Ceph RADOS Gateway (S3-compatible) on loopback, for
# Cabinet's tests and CI.  Everything lives under one directory.
#
#   scripts/services/s3-rgw.sh start DIR   # start (or re-print env of a running one)
#   scripts/services/s3-rgw.sh stop DIR    # stop exactly the daemons started in DIR
#
# On success `start` writes DIR/env (shell-sourceable) and prints the same to
# stdout:
#   CABINET_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#   CABINET_TEST_S3_REGION=us-east-1
#   CABINET_TEST_S3_ACCESS_KEY_ID=...
#   CABINET_TEST_S3_SECRET_ACCESS_KEY=...
# All progress and error messages go to stderr.
#
# Environment overrides:
#   CABINET_RGW_PORT       S3 (radosgw) port          (default: a free random port)
#   CABINET_RGW_MON_PORT   ceph-mon port               (default: a free random port)
#   CABINET_RGW_TIMEOUT    seconds for each wait step  (default: 60)
#   CABINET_RGW_MEMSTORE_BYTES  memstore capacity      (default: 2 GiB)
#
# Design notes (see docs/s3-test-server.md in shared/): one ceph-mon, one
# memstore ceph-osd, one radosgw; no cephx (S3 signatures are still checked by
# RGW); msgr crc mode; a real monmap; fast paxos.  Daemons run with -f under
# setsid so their PIDs are known the moment they are spawned; they are stopped
# by those recorded PIDs only (TERM, then KILL), never by name.
set -euo pipefail
set +m

PROG=s3-rgw.sh
REGION=us-east-1
TIMEOUT=${CABINET_RGW_TIMEOUT:-60}
MEMSTORE_BYTES=${CABINET_RGW_MEMSTORE_BYTES:-2147483648}
# sha256 of the empty string (curl --aws-sigv4 needs it sent explicitly for RGW)
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat >&2 <<EOF
usage: $PROG start DIR | stop DIR
  start  start a throwaway Ceph RGW (S3) under DIR, write DIR/env and print it
  stop   stop the daemons started under DIR
EOF
  exit 2
}

# ---------------------------------------------------------------- packages --

ensure_packages() {
  local missing=() b
  for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph curl; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  ((${#missing[@]} == 0)) && return 0
  log "missing: ${missing[*]}; installing Ceph packages with apt-get (this takes ~20-60 s)"
  apt_install ceph-mon ceph-osd radosgw ceph-common curl
  for b in "${missing[@]}"; do
    command -v "$b" >/dev/null 2>&1 || die "still missing after install: $b"
  done
}

# ------------------------------------------------------------------- ports --

# ------------------------------------------------------------- processes --

# True if $1 is a live (non-zombie) process that was started with our ceph.conf.
# Zombies and recycled PIDs have a different (or empty) command line.
pid_is_ours() {
  local pid=$1 cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $'\n'$cmdline$'\n' == *$'\n'"$CONF"$'\n'* ]]
}

# Recorded daemons, one "NAME PID" per line, in start order.
recorded() {
  if [[ -f $PIDS ]]; then cat -- "$PIDS"; fi
}

# PIDs of any other process started with our ceph.conf (e.g. a daemon whose
# record was lost, or a hung ceph/radosgw-admin client from this DIR).
stray_pids() {
  local d pid
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    pid_is_ours "$pid" && echo "$pid"
  done
  return 0
}

# Stop one PID: TERM, wait up to $2 seconds, then KILL.
stop_pid() {
  local pid=$1 grace=$2 name=$3 i
  pid_is_ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    if ! pid_is_ours "$pid"; then
      wait "$pid" 2>/dev/null || true # reap it if it is our own child
      return 0
    fi
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM for ${grace}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pid_is_ours "$pid" || return 0
    sleep 0.1
  done
  log "WARNING: $name (pid $pid) still alive after SIGKILL"
  return 1
}

# Stop everything started under DIR: rgw, then osd, then mon, then strays.
stop_all() {
  local rc=0 name pid
  local -a order=()
  while read -r name pid; do
    [[ -n ${name:-} ]] && order=("$name $pid" "${order[@]}")
  done < <(recorded)
  local entry
  for entry in "${order[@]}"; do
    name=${entry%% *}
    pid=${entry#* }
    stop_pid "$pid" 5 "$name" || rc=1
  done
  for pid in $(stray_pids); do
    log "stopping unrecorded process $pid started with $CONF"
    stop_pid "$pid" 3 "process" || rc=1
  done
  rm -f -- "$PIDS" "$ENV_FILE"
  return "$rc"
}

# Start a daemon in the foreground (-f) of its own session, detached from our
# stdio and lock fd, and record its PID at once.
spawn() {
  local name=$1
  shift
  setsid "$@" </dev/null >>"$DIR/log/$name.stderr" 2>&1 9>&- &
  local pid=$! i
  printf '%s %s\n' "$name" "$pid" >>"$PIDS"
  # Wait for the fork to exec (its command line then names our ceph.conf).
  for ((i = 0; i < 50; i++)); do
    pid_is_ours "$pid" && return 0
    sleep 0.1
  done
  check_daemons
}

# Die (with the daemon's log) if any recorded daemon has exited.
check_daemons() {
  local name pid
  while read -r name pid; do
    [[ -n ${name:-} ]] || continue
    if ! pid_is_ours "$pid"; then
      show_log "$DIR/log/$name.stderr" 20
      show_log "$DIR/log/$name.log" 40
      die "$name (pid $pid) exited unexpectedly"
    fi
  done < <(recorded)
}

# wait_for DESCRIPTION LOGFILE COMMAND...: poll COMMAND until it succeeds,
# failing loudly (with the tail of LOGFILE) after $TIMEOUT seconds.
wait_for() {
  local desc=$1 logf=$2
  shift 2
  local start=$SECONDS
  until "$@"; do
    check_daemons
    if ((SECONDS - start >= TIMEOUT)); then
      show_log "$logf" 40
      die "timed out after ${TIMEOUT}s waiting for $desc"
    fi
    sleep 0.2
  done
}

# ------------------------------------------------------------- ceph bits --

ceph_cli() {
  timeout 30 ceph -c "$CONF" --connect-timeout 20 "$@" </dev/null 2>>"$DIR/log/ceph-cli.stderr"
}

osd_is_up() {
  local out
  out=$(ceph_cli osd stat -f json) || return 1
  [[ $out =~ \"num_up_osds\":[[:space:]]*([0-9]+) ]] && ((BASH_REMATCH[1] >= 1))
}

# HTTP status of a GET / signed with the given key pair ("000" if no answer).
s3_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    --aws-sigv4 "aws:amz:$REGION:s3" --user "$1:$2" \
    -H "x-amz-content-sha256: $EMPTY_SHA256" \
    "http://127.0.0.1:$3/" 2>/dev/null || true
}

s3_answers() { [[ $(s3_status "$@") != 000 ]]; }
s3_ok() { [[ $(s3_status "$@") == 200 ]]; }

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

env_text() {
  printf 'CABINET_TEST_S3_ENDPOINT=http://127.0.0.1:%s\n' "$RGW_PORT"
  printf 'CABINET_TEST_S3_REGION=%s\n' "$REGION"
  printf 'CABINET_TEST_S3_ACCESS_KEY_ID=%s\n' "$ACCESS_KEY"
  printf 'CABINET_TEST_S3_SECRET_ACCESS_KEY=%s\n' "$SECRET_KEY"
}

# Read values back from an existing DIR/env without sourcing it.
read_env_file() {
  local k v
  ACCESS_KEY='' SECRET_KEY='' RGW_PORT=''
  while IFS='=' read -r k v; do
    case $k in
      CABINET_TEST_S3_ENDPOINT) RGW_PORT=${v##*:} ;;
      CABINET_TEST_S3_ACCESS_KEY_ID) ACCESS_KEY=$v ;;
      CABINET_TEST_S3_SECRET_ACCESS_KEY) SECRET_KEY=$v ;;
    esac
  done <"$ENV_FILE"
  [[ -n $ACCESS_KEY && -n $SECRET_KEY && -n $RGW_PORT ]]
}

# True if DIR holds a complete, healthy running instance.
already_running() {
  [[ -f $ENV_FILE && -f $PIDS ]] || return 1
  read_env_file || return 1
  local name pid n=0
  while read -r name pid; do
    [[ -n ${name:-} ]] || continue
    pid_is_ours "$pid" || return 1
    n=$((n + 1))
  done < <(recorded)
  ((n == 3)) || return 1
  s3_ok "$ACCESS_KEY" "$SECRET_KEY" "$RGW_PORT"
}

write_conf() {
  cat >"$CONF" <<EOF
# Generated by scripts/services/s3-rgw.sh -- throwaway test cluster.
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false

auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
ms mon client mode = crc
ms client mode = crc

run dir = $DIR/run
crash dir = $DIR/crash
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
log to stderr = false

osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon data avail crit = 0
mon data avail warn = 0
mon max pg per osd = 1000

paxos propose interval = 0.05
paxos min wait = 0.01

[mon]
mon data = $DIR/mon/a

[osd]
osd data = $DIR/osd/0
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd crush initial weight = 1

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $DIR/rgw
# Reclaim deleted objects within a minute (default: 2 hours), so the RAM-backed store does not fill up.
rgw gc obj min wait = 60
rgw gc processor period = 60
EOF
}

# ------------------------------------------------------------------ start --

cleanup_on_failure() {
  local rc=$?
  ((rc == 0)) && return 0
  log "start failed; stopping anything started under $DIR"
  stop_all || true
  exit "$rc"
}

do_start() {
  local t0
  t0=$(now)

  if already_running; then
    log "already running in $DIR (S3 on 127.0.0.1:$RGW_PORT)"
    env_text
    return 0
  fi

  ensure_packages

  # A stale or half-dead instance: stop what is left and start afresh.
  if [[ -f $PIDS || -f $CONF ]]; then
    log "found a stopped or unhealthy instance in $DIR; replacing it"
    stop_all || die "could not stop the previous instance in $DIR"
  fi
  rm -rf -- "$DIR/mon" "$DIR/osd" "$DIR/rgw" "$DIR/run" "$DIR/crash" "$DIR/log" \
    "$DIR/monmap" "$DIR/rgw-user.json" "$CONF" "$ENV_FILE" "$PIDS"
  mkdir -p -- "$DIR/mon/a" "$DIR/osd/0" "$DIR/rgw" "$DIR/run" "$DIR/crash" "$DIR/log"

  trap cleanup_on_failure EXIT
  trap 'log "interrupted"; exit 130' INT
  trap 'log "terminated"; exit 143' TERM

  # Ports: env overrides, else free random ones.
  if [[ -n ${CABINET_RGW_MON_PORT:-} ]]; then
    valid_port "$CABINET_RGW_MON_PORT" || die "bad CABINET_RGW_MON_PORT: $CABINET_RGW_MON_PORT"
    MON_PORT=$CABINET_RGW_MON_PORT
  else
    MON_PORT=$(pick_port)
  fi
  if [[ -n ${CABINET_RGW_PORT:-} ]]; then
    valid_port "$CABINET_RGW_PORT" || die "bad CABINET_RGW_PORT: $CABINET_RGW_PORT"
    RGW_PORT=$CABINET_RGW_PORT
  else
    RGW_PORT=$(pick_port "$MON_PORT")
  fi
  [[ $MON_PORT != "$RGW_PORT" ]] || die "monitor and S3 ports must differ ($MON_PORT)"
  port_in_use "$MON_PORT" && die "port $MON_PORT (monitor) is already in use"
  port_in_use "$RGW_PORT" && die "port $RGW_PORT (S3) is already in use"

  FSID=$(cat /proc/sys/kernel/random/uuid)
  local osd_uuid
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  ACCESS_KEY=CAB$(random_hex 9 | tr 'a-f' 'A-F')  # 3 + 18 chars
  SECRET_KEY=$(random_hex 20)                      # 40 chars
  write_conf

  log "starting Ceph in $DIR (monitor 127.0.0.1:$MON_PORT, S3 127.0.0.1:$RGW_PORT)"

  # 1. monitor
  monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" \
    "$DIR/monmap" >"$DIR/log/monmaptool.out" 2>&1 ||
    { show_log "$DIR/log/monmaptool.out"; die "monmaptool failed"; }
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring /dev/null \
    </dev/null >"$DIR/log/mon-mkfs.out" 2>&1 ||
    { show_log "$DIR/log/mon-mkfs.out"; show_log "$DIR/log/mon.a.log"; die "ceph-mon --mkfs failed"; }
  spawn mon.a ceph-mon -f -c "$CONF" -i a

  # 2. OSD (creating its id also proves the monitor has formed a quorum)
  local osd_id
  local start=$SECONDS
  until osd_id=$(ceph_cli osd create "$osd_uuid"); do
    check_daemons
    if ((SECONDS - start >= TIMEOUT)); then
      show_log "$DIR/log/ceph-cli.stderr" 20
      show_log "$DIR/log/mon.a.log" 40
      die "timed out after ${TIMEOUT}s waiting for the monitor (ceph osd create)"
    fi
    sleep 0.2
  done
  [[ $osd_id == 0 ]] || die "expected OSD id 0, got '$osd_id'"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" \
    </dev/null >"$DIR/log/osd-mkfs.out" 2>&1 ||
    { show_log "$DIR/log/osd-mkfs.out"; show_log "$DIR/log/osd.0.log"; die "ceph-osd --mkfs failed"; }
  spawn osd.0 ceph-osd -f -c "$CONF" -i 0
  wait_for "the OSD to be up" "$DIR/log/osd.0.log" osd_is_up

  # 3. radosgw, then the S3 user once RGW answers (earlier races zone creation)
  spawn client.rgw.a radosgw -f -c "$CONF" -n client.rgw.a
  wait_for "radosgw to answer HTTP on 127.0.0.1:$RGW_PORT" "$DIR/log/client.rgw.a.log" \
    s3_answers "$ACCESS_KEY" "$SECRET_KEY" "$RGW_PORT"

  if ! timeout "$TIMEOUT" radosgw-admin -c "$CONF" user create --uid cabinet \
    --display-name Cabinet --access-key "$ACCESS_KEY" --secret "$SECRET_KEY" \
    </dev/null >"$DIR/rgw-user.json" 2>"$DIR/log/radosgw-admin.stderr"; then
    show_log "$DIR/log/radosgw-admin.stderr"
    die "radosgw-admin user create failed"
  fi
  wait_for "a signed S3 request to succeed" "$DIR/log/client.rgw.a.log" \
    s3_ok "$ACCESS_KEY" "$SECRET_KEY" "$RGW_PORT"

  env_text >"$ENV_FILE.tmp"
  mv -f -- "$ENV_FILE.tmp" "$ENV_FILE"
  log "S3 ready at http://127.0.0.1:$RGW_PORT in $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')s (env: $ENV_FILE)"
  env_text
  trap - EXIT INT TERM
}

do_stop() {
  if [[ ! -f $PIDS && ! -f $CONF ]]; then
    log "nothing to stop in $DIR"
    return 0
  fi
  if stop_all; then
    log "stopped ($DIR)"
  else
    die "some processes in $DIR could not be stopped"
  fi
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
# ceph.conf treats these characters specially; refuse them rather than misbehave.
case $DIR in
  *[\#\;\$\"\'\\\`]* | *$'\n'*) die "DIR must not contain any of: # ; \$ \" ' \\ \` newline ($DIR)" ;;
esac
CONF=$DIR/ceph.conf
PIDS=$DIR/pids
ENV_FILE=$DIR/env
MON_PORT='' RGW_PORT='' FSID='' ACCESS_KEY='' SECRET_KEY=''

if ! [[ $TIMEOUT =~ ^[0-9]+$ ]] || ((TIMEOUT == 0)); then
  die "bad CABINET_RGW_TIMEOUT: $TIMEOUT"
fi

# One start/stop at a time per DIR.
exec 9>"$DIR/.lock"
flock -w 120 9 || die "another start/stop is running on $DIR"

case $CMD in
  start) do_start ;;
  stop) do_stop ;;
esac
