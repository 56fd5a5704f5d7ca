#!/usr/bin/env bash
# Installs the Options Cleanup Manager as a systemd service (see docs/operations.md).
#
#   sudo deploy/install.sh                 install or update; safe to run again (idempotent)
#   sudo deploy/install.sh --migrate       ... and set up the database (cleanup-manager db migrate)
#   sudo deploy/install.sh --uninstall     remove program and units; keep config, secrets, data, logs
#   sudo deploy/install.sh --purge         remove everything, including the user, data and logs
#   deploy/install.sh --destdir /tmp/root --no-venv   stage into a root for tests or packaging
#
# Options: --prefix DIR (program location, default /opt/cleanup-manager), --destdir DIR (or DESTDIR=),
# --source DIR (the repository to install, default: the one holding this script), --python PY
# (creates the venv, default python3), --no-venv (or INSTALL_SKIP_VENV=1), --dry-run, --migrate,
# --uninstall, --purge. INSTALL_PIP_ARGS adds options to the venv's pip install.
#
# Never overwritten once they exist: /etc/cleanup-manager/config.json, env and credentials/*.
# Under --destdir nothing outside that root is touched: no user is created, nothing is chown'ed and
# systemctl is not called; the script says what it would have done instead.
set -euo pipefail

NAME=cleanup-manager
PREFIX=/opt/cleanup-manager
DESTDIR=${DESTDIR:-}
SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
SKIP_VENV=${INSTALL_SKIP_VENV:-0}
DRY_RUN=0
ACTION=install
MIGRATE=0

BINDIR=/usr/local/bin
UNITDIR=/etc/systemd/system
ETC=/etc/$NAME
STATE=/var/lib/$NAME
LOGS=/var/log/$NAME
UNITS=(cleanup-manager.service cleanup-manager.timer cleanup-manager-migrate.service)
SECRETS=(db_password telegram_bot_token alert_urls)

usage() { sed -n '2,17s/^# \{0,1\}//p' "$0"; }

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
        --prefix=*) PREFIX=${1#*=} ;;
        --destdir|--root) DESTDIR=${2:?$1 needs a directory}; shift ;;
        --destdir=*|--root=*) DESTDIR=${1#*=} ;;
        --source) SOURCE=${2:?--source needs a directory}; shift ;;
        --python) PYTHON=${2:?--python needs an interpreter}; shift ;;
        --no-venv) SKIP_VENV=1 ;;
        --dry-run|-n) DRY_RUN=1 ;;
        --migrate) MIGRATE=1 ;;
        --uninstall) ACTION=uninstall ;;
        --purge) ACTION=purge ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

PREFIX=${PREFIX%/}
DESTDIR=${DESTDIR%/}
if [ -n "$DESTDIR" ]; then
    mkdir -p "$DESTDIR"
    DESTDIR=$(cd "$DESTDIR" && pwd)
fi
case $PREFIX in /*) ;; *) echo "install.sh: --prefix must be an absolute path, not '$PREFIX'" >&2; exit 2 ;; esac
if [ -z "$DESTDIR" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or stage with --destdir DIR, or look first with --dry-run" >&2
    exit 1
fi

say() { printf '%s\n' "$*"; }
note() {  # note VERB WHAT...: one line per thing done; a dry run says what it would do
    local verb=$1
    shift
    if [ "$DRY_RUN" = 1 ]; then
        case $verb in
            created|updated|removed|installed|enabled|migrated) verb="would be $verb" ;;
        esac
    fi
    printf '  %-10s %s\n' "$verb" "$*"
}
# Commands with effects beyond a file (users, systemctl, pip): a dry run prints them instead.
run() {
    if [ "$DRY_RUN" = 1 ]; then note "would run" "$(quoted "$@")"; else "$@"; fi
}
quoted() { local word out=""; for word in "$@"; do out+=" $(printf '%q' "$word")"; done; printf '%s' "${out# }"; }
# File operations: a dry run skips them silently, the note for the file says what would happen.
fs() {
    if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}
# Host-level actions are only recorded when staging into a root: nothing outside it is touched.
host() {
    if [ -n "$DESTDIR" ]; then note "would run" "$(quoted "$@") (skipped: staged root)"; else run "$@"; fi
}
# Ownership needs the service user, which a staged root does not have: the note shows it instead.
own() {  # own OWNER:GROUP PATH
    if [ -z "$DESTDIR" ]; then fs chown "$1" "$DESTDIR$2"; fi
}
systemd_running() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; }
why_no_systemctl() { if [ -n "$DESTDIR" ]; then echo "staged root"; else echo "systemd is not running"; fi; }

# Paths the service's units and wrapper name: the prefix replaces /opt/cleanup-manager in them.
render() { sed "s|/opt/cleanup-manager|$PREFIX|g" "$1"; }

ensure_parent() {  # a system directory (e.g. /usr/local/bin): create if missing, never re-own it
    if [ ! -d "$DESTDIR$1" ]; then fs mkdir -p "$DESTDIR$1"; fi
}

ensure_dir() {  # ensure_dir PATH MODE OWNER:GROUP: a directory of ours
    if [ -d "$DESTDIR$1" ]; then
        note unchanged "$1/"
    else
        fs mkdir -p "$DESTDIR$1"
        note created "$1/ ($2 $3)"
    fi
    fs chmod "$2" "$DESTDIR$1"
    own "$3" "$1"
}

install_file() {  # install_file CONTENT-FILE PATH MODE OWNER:GROUP: always kept up to date
    local path=$DESTDIR$2
    if [ -f "$path" ] && cmp -s "$1" "$path"; then
        note unchanged "$2"
    else
        local verb=created
        if [ -e "$path" ]; then verb=updated; fi
        fs install -m "$3" "$1" "$path"
        note "$verb" "$2 ($3 $4)"
    fi
    fs chmod "$3" "$path"
    own "$4" "$2"
}

keep_file() {  # keep_file CONTENT-FILE PATH MODE OWNER:GROUP: created once, never overwritten
    local path=$DESTDIR$2
    if [ -e "$path" ]; then
        note kept "$2 (exists; not overwritten)"
    else
        fs install -m "$3" "$1" "$path"
        note created "$2 ($3 $4)"
    fi
    fs chmod "$3" "$path"  # tighten a secret a person loosened by hand
    own "$4" "$2"
}

remove() {  # remove PATH...: files, or directories with everything in them
    local item
    for item in "$@"; do
        if [ -e "$DESTDIR$item" ] || [ -L "$DESTDIR$item" ]; then
            fs rm -rf "$DESTDIR$item"
            note removed "$item"
        fi
    done
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

write_config() {
    # Monitor mode: assess, log and alert, never trade, until a person switches to active.
    cat >"$WORK/config.json" <<'JSON'
{
  "mode": "monitor",
  "ib_host": "127.0.0.1",
  "ib_port": 4002,
  "ib_account": "",
  "price_source": "thetadata",
  "thetadata_url": "http://127.0.0.1:25510/v2",
  "db_dsn": "",
  "trader_tz": "Asia/Hong_Kong"
}
JSON
    cat >"$WORK/env" <<'ENV'
# CLEANUP_* overrides for the service, one KEY=value a line (systemd EnvironmentFile= syntax).
# Root-only (0600). Prefer /etc/cleanup-manager/credentials/ for secrets: files there never reach the
# process environment. Examples:
#CLEANUP_DB_DSN=postgresql://trader@127.0.0.1:5432/trading_db
#CLEANUP_IB_ACCOUNT=DU1234567
#CLEANUP_TELEGRAM_ALLOWED_CHATS=123456789
ENV
    : >"$WORK/empty"
    cat >"$WORK/wrapper" <<'SH'
#!/bin/sh
# Installed by deploy/install.sh. Runs cleanup-manager with the service's configuration, so that
# `sudo cleanup-manager ctl kill`, `cleanup-manager check-config` and `cleanup-manager clock` see what
# the service sees (secrets excepted: those reach only the service, as systemd credentials).
: "${CLEANUP_CONFIG:=/etc/cleanup-manager/config.json}"
: "${CLEANUP_DATA_DIR:=/var/lib/cleanup-manager}"
: "${CLEANUP_LOG_DIR:=/var/log/cleanup-manager}"
: "${CLEANUP_CONTROL_SOCKET:=/run/cleanup-manager/control.sock}"
export CLEANUP_CONFIG CLEANUP_DATA_DIR CLEANUP_LOG_DIR CLEANUP_CONTROL_SOCKET
if [ -r /etc/cleanup-manager/env ]; then set -a; . /etc/cleanup-manager/env; set +a; fi
exec /opt/cleanup-manager/venv/bin/cleanup-manager "$@"
SH
}

source_hash() {  # a stable digest of what pip would install, to skip an unchanged reinstall
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

install_venv() {
    local venv=$PREFIX/venv
    if [ "$SKIP_VENV" = 1 ]; then
        note skipped "$venv (--no-venv)"
        return
    fi
    # pip builds in the source tree (build/, *.egg-info): build from a clean copy instead.
    local copy=$WORK/source
    mkdir -p "$copy"
    tar -C "$SOURCE" --exclude=./.venv --exclude=./.git --exclude=./build --exclude='*.egg-info' \
        --exclude=__pycache__ --exclude=./data --exclude=./logs --exclude=.pytest_cache -cf - . | tar -C "$copy" -xf -
    local digest
    digest=$(source_hash "$copy")
    if [ -x "$DESTDIR$venv/bin/$NAME" ] && [ "$(cat "$DESTDIR$venv/.source-sha256" 2>/dev/null)" = "$digest" ]; then
        note unchanged "$venv/ (package already installed from identical source)"
        return
    fi
    [ -x "$DESTDIR$venv/bin/python" ] || run "$PYTHON" -m venv "$DESTDIR$venv"
    # INSTALL_PIP_ARGS: extra pip options, e.g. "--no-index --find-links /srv/wheels" on an offline box.
    # shellcheck disable=SC2086  # word splitting of the extra options is intended
    run "$DESTDIR$venv/bin/python" -m pip install --quiet --disable-pip-version-check ${INSTALL_PIP_ARGS:-} "$copy"
    if [ "$DRY_RUN" = 0 ]; then printf '%s\n' "$digest" >"$DESTDIR$venv/.source-sha256"; fi
    note installed "$venv/ (options-cleanup-manager from $SOURCE)"
}

do_install() {
    say "Installing the Options Cleanup Manager${DESTDIR:+ into staged root $DESTDIR}"
    if [ "$DRY_RUN" = 1 ]; then say "(dry run: nothing is changed)"; fi
    write_config

    say "User:"
    if [ -n "$DESTDIR" ] || ! getent passwd "$NAME" >/dev/null; then
        host useradd --system --user-group --home-dir "$STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "Options Cleanup Manager" "$NAME"
        if [ -z "$DESTDIR" ]; then note created "system user $NAME"; fi
    else
        note unchanged "system user $NAME"
    fi

    say "Program:"
    ensure_dir "$PREFIX" 0755 root:root
    ensure_dir "$PREFIX/docs" 0755 root:root
    install_file "$SOURCE/docs/operations.md" "$PREFIX/docs/operations.md" 0644 root:root
    install_venv
    ensure_parent "$BINDIR"
    render "$WORK/wrapper" >"$WORK/wrapper.rendered"
    install_file "$WORK/wrapper.rendered" "$BINDIR/$NAME" 0755 root:root

    say "Configuration (monitor mode; existing files are kept):"
    ensure_dir "$ETC" 0750 "root:$NAME"
    keep_file "$WORK/config.json" "$ETC/config.json" 0640 "root:$NAME"
    keep_file "$WORK/env" "$ETC/env" 0600 root:root
    ensure_dir "$ETC/credentials" 0700 root:root
    local secret
    for secret in "${SECRETS[@]}"; do
        keep_file "$WORK/empty" "$ETC/credentials/$secret" 0600 root:root
    done

    say "State and logs:"
    ensure_dir "$STATE" 0750 "$NAME:$NAME"
    ensure_dir "$LOGS" 0750 "$NAME:$NAME"

    say "systemd units:"
    ensure_parent "$UNITDIR"
    local unit
    for unit in "${UNITS[@]}"; do
        render "$SOURCE/deploy/$unit" >"$WORK/$unit"
        install_file "$WORK/$unit" "$UNITDIR/$unit" 0644 root:root
    done
    if systemd_running; then
        run systemctl daemon-reload
        # The timer starts the service on weekday mornings; enabling the service too brings it back
        # after a reboot during the day (the timer's Persistent= only catches up a missed 04:00).
        run systemctl enable --quiet --now cleanup-manager.timer
        run systemctl enable --quiet cleanup-manager.service
        note enabled "cleanup-manager.timer (started), cleanup-manager.service (at boot)"
    else
        note "would run" "systemctl daemon-reload; systemctl enable --now cleanup-manager.timer;" \
            "systemctl enable cleanup-manager.service (skipped: $(why_no_systemctl))"
    fi

    say "Database:"
    if [ "$MIGRATE" = 1 ] && systemd_running; then
        run systemctl start cleanup-manager-migrate.service
        note migrated "see: journalctl -u cleanup-manager-migrate -n 50"
    else
        say "  set db_dsn (config.json or env) and the db_password credential, then create the tables:"
        say "    sudo systemctl start cleanup-manager-migrate && journalctl -u cleanup-manager-migrate -n 50"
        say "  (runs 'cleanup-manager db migrate' as the service user with the service's secrets;"
        say "   with db_dsn empty the audit store is SQLite in $STATE)"
    fi

    say "Next:"
    say "  fill in $ETC/credentials/{db_password,telegram_bot_token,alert_urls} (mode 0600, root)"
    say "  sudo cleanup-manager check-config     # what the service will run with"
    say "  sudo systemctl start cleanup-manager  # or wait for the timer: Mon..Fri 04:00 America/New_York"
    say "  journalctl -u cleanup-manager -f"
    say "Done."
}

do_uninstall() {
    local purge=$1
    say "Removing the Options Cleanup Manager${DESTDIR:+ from staged root $DESTDIR}"
    if [ "$DRY_RUN" = 1 ]; then say "(dry run: nothing is changed)"; fi
    if systemd_running; then
        run systemctl disable --quiet --now cleanup-manager.timer cleanup-manager.service 2>/dev/null || true
        run systemctl stop cleanup-manager-migrate.service 2>/dev/null || true
    else
        note "would run" "systemctl disable --now cleanup-manager.timer cleanup-manager.service" \
            "(skipped: $(why_no_systemctl))"
    fi
    local unit
    for unit in "${UNITS[@]}"; do remove "$UNITDIR/$unit"; done
    if systemd_running; then run systemctl daemon-reload; fi
    remove "$BINDIR/$NAME" "$PREFIX/venv" "$PREFIX/docs"
    if [ -d "$DESTDIR$PREFIX" ] && [ -z "$(ls -A "$DESTDIR$PREFIX")" ]; then
        fs rmdir "$DESTDIR$PREFIX"
        note removed "$PREFIX/"
    fi
    if [ "$purge" = 1 ]; then
        remove "$ETC" "$STATE" "$LOGS"
        if [ -n "$DESTDIR" ] || getent passwd "$NAME" >/dev/null; then
            host userdel "$NAME"
            if [ -z "$DESTDIR" ]; then note removed "system user $NAME"; fi
        fi
    else
        say "Kept (remove with --purge): $ETC (config and secrets), $STATE (audit data), $LOGS, user $NAME"
    fi
    say "Done."
}

case $ACTION in
    install) do_install ;;
    uninstall) do_uninstall 0 ;;
    purge) do_uninstall 1 ;;
esac
