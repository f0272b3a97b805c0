# Helpers shared by the service scripts; source after setting PROG.
# shellcheck shell=bash

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  printf '%s: ERROR: %s\n' "$PROG" "$*" >&2
  exit 1
}

now() { date +%s.%N; }

# Print the last lines of a log file to stderr, framed.
show_log() {
  local f=$1 n=${2:-40}
  if [[ -s $f ]]; then
    printf '%s: ----- last %s lines of %s -----\n' "$PROG" "$n" "$f" >&2
    tail -n "$n" -- "$f" >&2 || true
    printf '%s: ----- end of %s -----\n' "$PROG" "$f" >&2
  fi
}

# apt-get install the given Debian packages (as root), serialised with the other service scripts.
apt_install() {
  ((EUID == 0)) || die "not root: cannot apt-get install; install $* first"
  local aptlog
  aptlog=$(mktemp "/tmp/cabinet-$PROG-apt.XXXXXX")
  if ! (
    flock -w 600 /var/lock/cabinet-services-apt.lock \
      apt-get -o DPkg::Lock::Timeout=300 update -q &&
      DEBIAN_FRONTEND=noninteractive flock -w 600 /var/lock/cabinet-services-apt.lock \
        apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@"
  ) </dev/null >"$aptlog" 2>&1; then
    show_log "$aptlog" 30
    die "apt-get failed (full log: $aptlog)"
  fi
  rm -f -- "$aptlog"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Pick a free loopback port below the kernel's ephemeral range, avoiding "$@".
pick_port() {
  local p i x taken
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    taken=0
    for x in "$@"; do [[ $x == "$p" ]] && taken=1; done
    ((taken)) && continue
    port_in_use "$p" && continue
    echo "$p"
    return 0
  done
  die "could not find a free loopback port"
}

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }
