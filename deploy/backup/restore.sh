#!/bin/sh
# Restore a MAPPA Hub backup made by backup.sh: the key-encryption key with the pinned hub signing
# key (hub-signing.pub) and hub-cosigned.json backed up beside it, then the database with
# `mappa-hub restore`, which checks the backup, restores it and verifies the log.
#
# Stop the hub first (systemctl stop mappa-hub). Nothing is overwritten without --force; with
# --force the KEK and hub-signing.pub being replaced, and a replaced SQLite database, are kept
# beside the new ones as *.pre-restore-<time>.
set -eu

PROG=restore.sh

usage() {
    cat <<'EOF'
usage: restore.sh --from DIR [--kek FILE] [--hub-key FILE] [--force] [--data-dir DIR]
                  [--database-url URL]

Restores a database backup written by backup.sh (or `mappa-hub backup`) into the hub's data
directory (SQLite) or database (PostgreSQL), and optionally the key-encryption key, the pinned
hub signing key and hub-cosigned.json, which go back first: the restore verifies the log with
them. Stop the hub first. Run it as root or as the hub's service user, with the service's
environment (/etc/mappa-hub/env).

  --from DIR          the backup directory: mappa-hub-<time>/ with manifest.json
  --kek FILE          the KEK copy to install at the KEK path (32 bytes)
  --hub-key FILE      the hub-signing.pub copy to install; by default, with --kek
                      mappa-hub-kek-<time>.key, the mappa-hub-signing-<time>.pub beside it (and
                      mappa-hub-cosigned-<time>.json, if there, as hub-cosigned.json)
  --force             replace an existing database / a different KEK or hub-signing.pub; the
                      current SQLite database, KEK and hub-signing.pub are kept as
                      *.pre-restore-<time>, a PostgreSQL database is cleaned
  --data-dir DIR      default: $MAPPA_HUB_DATA_DIR, else ./var
  --database-url URL  default: $MAPPA_HUB_DATABASE_URL, else SQLite <data-dir>/hub.sqlite3
  -h, --help          this text

PostgreSQL: pg_restore runs as $MAPPA_HUB_OWNER_DATABASE_URL if set (the tables' owner, which
must recreate them), else as the database URL; the log is verified as the database URL's role.
The command run is $MAPPA_HUB_BIN if set, else mappa-hub on the PATH, else
/opt/mappa-hub/venv/bin/mappa-hub; as root, it runs as the owner of the data directory.
The KEK path is $MAPPA_HUB_KEK_PATH if set, else <data-dir>/keys/kek.key; hub-signing.pub goes to
$MAPPA_HUB_KEY_PINS if set, else the KEK's directory, read-only (0444).
A missing KEK can only be restored: `mappa-hub init` refuses to create a new one for a database
that holds keys, and the hub refuses a KEK that does not match them. Restore hub-signing.pub
with it: without that file `mappa-hub init` pins whatever hub key the restored database holds.

Exit status: 0 done and verified; 1 a step failed, the backup is damaged or the restored log does
not verify; 2 bad usage, or a database or key is there already and --force was not given.
EOF
}

usage_error() {
    printf '%s: %s\n\n' "$PROG" "$1" >&2
    usage >&2
    exit 2
}

fail() {
    printf '%s: %s\n' "$PROG" "$1" >&2
    exit "${2:-1}"
}

need_value() {
    if [ "$2" -lt 2 ]; then
        usage_error "$1 needs a value"
    fi
}

FROM=
KEK_FROM=
PIN_FROM=
FORCE=0
DATA_DIR=${MAPPA_HUB_DATA_DIR:-./var}
URL=${MAPPA_HUB_DATABASE_URL:-}

while [ $# -gt 0 ]; do
    case $1 in
        --from) need_value "$1" $#; FROM=$2; shift 2 ;;
        --from=*) FROM=${1#*=}; shift ;;
        --kek) need_value "$1" $#; KEK_FROM=$2; shift 2 ;;
        --kek=*) KEK_FROM=${1#*=}; shift ;;
        --hub-key) need_value "$1" $#; PIN_FROM=$2; shift 2 ;;
        --hub-key=*) PIN_FROM=${1#*=}; shift ;;
        --force) FORCE=1; shift ;;
        --data-dir) need_value "$1" $#; DATA_DIR=$2; shift 2 ;;
        --data-dir=*) DATA_DIR=${1#*=}; shift ;;
        --database-url) need_value "$1" $#; URL=$2; shift 2 ;;
        --database-url=*) URL=${1#*=}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done

[ -n "$FROM" ] || usage_error "--from is required"
[ -f "$FROM/manifest.json" ] || usage_error "$FROM is not a backup directory (no manifest.json in it)"
if [ -n "$KEK_FROM" ] && [ ! -f "$KEK_FROM" ]; then
    usage_error "no such KEK file: $KEK_FROM"
fi
if [ -n "$PIN_FROM" ] && [ ! -f "$PIN_FROM" ]; then
    usage_error "no such hub-signing.pub copy: $PIN_FROM"
fi
# backup.sh writes mappa-hub-kek-<time>.key, mappa-hub-signing-<time>.pub and (when there is
# one) mappa-hub-cosigned-<time>.json side by side.
COSIGNED_FROM=
if [ -n "$KEK_FROM" ]; then
    case $(basename "$KEK_FROM") in
        mappa-hub-kek-*.key)
            stamp=$(basename "$KEK_FROM" .key)
            stamp=${stamp#mappa-hub-kek-}
            candidate=$(dirname "$KEK_FROM")/mappa-hub-signing-$stamp.pub
            if [ -z "$PIN_FROM" ] && [ -f "$candidate" ]; then
                PIN_FROM=$candidate
                echo "hub-signing.pub copy found beside the KEK copy: $PIN_FROM"
            fi
            candidate=$(dirname "$KEK_FROM")/mappa-hub-cosigned-$stamp.json
            if [ -f "$candidate" ]; then
                COSIGNED_FROM=$candidate
            fi
            ;;
    esac
fi

# shellcheck source=deploy/backup/hub-command.sh
. "$(dirname "$0")/hub-command.sh"
# The verification opens the hub, which reads the policy files: those of an installed hub.
if [ -z "${MAPPA_HUB_POLICY_DIR:-}" ] && [ -d /etc/mappa-hub/policies ]; then
    MAPPA_HUB_POLICY_DIR=/etc/mappa-hub/policies
    export MAPPA_HUB_POLICY_DIR
fi

KEK=${MAPPA_HUB_KEK_PATH:-$DATA_DIR/keys/kek.key}
PIN=${MAPPA_HUB_KEY_PINS:-$(dirname "$KEK")/hub-signing.pub}
COSIGNED=$(dirname "$PIN")/hub-cosigned.json
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
umask 077

# As root, hand restored files to whoever owns the data directory (the hub's service user).
chown_like_data_dir() {
    if [ "$(id -u)" = 0 ] && [ -d "$DATA_DIR" ]; then
        # shellcheck disable=SC2012 # POSIX has no stat(1); ls -lnd gives uid and gid
        ids=$(ls -lnd "$DATA_DIR" | awk '{print $3 ":" $4}')
        chown "$ids" "$@"
    fi
}

# The command runs as the data directory's owner: as root, SQLite would leave root-owned files
# beside the database that the hub cannot open (and the command refuses to).
hub_cmd() {
    owner=
    if [ "$(id -u)" = 0 ] && [ -d "$DATA_DIR" ]; then
        # shellcheck disable=SC2012
        owner=$(ls -ld "$DATA_DIR" | awk '{print $3}')
    fi
    if [ -n "$owner" ] && [ "$owner" != root ]; then
        command -v runuser >/dev/null 2>&1 || fail "runuser not found: run this as $owner"
        runuser -u "$owner" -- "$HUB" "$@"
    else
        "$HUB" "$@"
    fi
}

# --- check everything before changing anything ----------------------------------------------

KEK_ACTION=none
if [ -n "$KEK_FROM" ]; then
    size=$(wc -c <"$KEK_FROM" | tr -d ' ')
    [ "$size" = 32 ] || fail "$KEK_FROM is $size bytes; a KEK is exactly 32"
    if [ -e "$KEK" ]; then
        if cmp -s "$KEK_FROM" "$KEK"; then
            KEK_ACTION=same
        elif [ "$FORCE" = 1 ]; then
            KEK_ACTION=replace
        else
            fail "refusing to replace the different KEK at $KEK without --force" 2
        fi
    else
        KEK_ACTION=install
    fi
fi

PIN_ACTION=none
if [ -n "$PIN_FROM" ]; then
    # One Ed25519 public key per line, 64 hex digits, as the hub writes it.
    grep -q '^[0-9a-fA-F]\{64\}$' "$PIN_FROM" || fail "$PIN_FROM holds no hub public key (64 hex digits per line)"
    if grep -v -e '^[0-9a-fA-F]\{64\}$' -e '^$' "$PIN_FROM" >/dev/null; then
        fail "$PIN_FROM is not a hub-signing.pub file (one 64-hex-digit key per line)"
    fi
    if [ -e "$PIN" ]; then
        if cmp -s "$PIN_FROM" "$PIN"; then
            PIN_ACTION=same
        elif [ "$FORCE" = 1 ]; then
            PIN_ACTION=replace
        else
            fail "refusing to replace the different $PIN without --force" 2
        fi
    else
        PIN_ACTION=install
    fi
fi

# The manifest, every file's SHA-256, the schema revision, and whether a database is there.
if [ "$FORCE" = 1 ]; then
    hub_cmd restore "$FROM" --dry-run --force >/dev/null || exit $?
else
    hub_cmd restore "$FROM" --dry-run >/dev/null || exit $?
fi

# --- the key-encryption key ------------------------------------------------------------------------

case $KEK_ACTION in
    same) echo "KEK at $KEK is already this one" ;;
    install | replace)
        KEK_DIR=$(dirname "$KEK")
        mkdir -p "$KEK_DIR"
        chmod 700 "$KEK_DIR"
        if [ "$KEK_ACTION" = replace ]; then
            mv "$KEK" "$KEK.pre-restore-$STAMP"
            printf '\n!!! the previous, DIFFERENT KEK was kept as %s: protect or destroy it\n\n' \
                "$KEK.pre-restore-$STAMP" >&2
        fi
        cp "$KEK_FROM" "$KEK.restoring-$$"
        chmod 600 "$KEK.restoring-$$"
        mv "$KEK.restoring-$$" "$KEK"
        chown_like_data_dir "$KEK_DIR" "$KEK"
        echo "KEK restored: $KEK"
        ;;
    none) ;;
esac

# --- the pinned hub signing key and the cosigned checkpoint ----------------------------------------

case $PIN_ACTION in
    same) echo "hub-signing.pub at $PIN is already this one" ;;
    install | replace)
        PIN_DIR=$(dirname "$PIN")
        mkdir -p "$PIN_DIR"
        if [ "$PIN_ACTION" = replace ]; then
            mv "$PIN" "$PIN.pre-restore-$STAMP"
            printf '\n!!! the previous, DIFFERENT hub-signing.pub was kept as %s: find out why it differed\n\n' \
                "$PIN.pre-restore-$STAMP" >&2
        fi
        cp "$PIN_FROM" "$PIN.restoring-$$"
        # Read-only, and as root left root-owned: the hub only reads it while its key is pinned,
        # and cannot then append a key that someone inserted into the database (keys/README.md).
        chmod 444 "$PIN.restoring-$$"
        mv "$PIN.restoring-$$" "$PIN"
        echo "hub-signing.pub restored (read-only): $PIN"
        ;;
    none) ;;
esac

# The hub keeps hub-cosigned.json current itself: only a missing one is put back.
if [ -n "$COSIGNED_FROM" ] && [ ! -e "$COSIGNED" ]; then
    cp "$COSIGNED_FROM" "$COSIGNED.restoring-$$"
    chmod 600 "$COSIGNED.restoring-$$"
    mv "$COSIGNED.restoring-$$" "$COSIGNED"
    chown_like_data_dir "$COSIGNED"
    echo "hub-cosigned.json restored: $COSIGNED"
fi

# --- the database, then the log verified ----------------------------------------------------------
# `mappa-hub restore` checks the backup again, restores it, and runs the checks of `ledger
# verify`: the KEK fits the database's keys, every hub signing key in it is pinned, the chain and
# the checkpoints hold, and the log is the one the manifest names.

status=0
if [ "$FORCE" = 1 ]; then
    hub_cmd restore "$FROM" --force || status=$?
else
    hub_cmd restore "$FROM" || status=$?
fi
[ "$status" = 0 ] || exit "$status"

cat <<EOF

Next: start the hub (systemctl start mappa-hub) and check the log against the checkpoints held
outside the hub (a backup older than a held checkpoint is reported as "shorter than the
checkpoint": the entries since the backup are lost, record that):
  mappa-hub ledger verify --checkpoint /path/to/held-checkpoint.json
EOF
