#!/bin/sh
# Back up a MAPPA Hub: the database to one place (`mappa-hub backup`), the key-encryption key
# (KEK) to ANOTHER, with the pinned hub signing key (hub-signing.pub) and the file of checkpoints
# cosigned by peer hubs (hub-cosigned.json, if any) next to the KEK copy.
#
# The database copy is `mappa-hub backup --out DIR`: SQLite's online backup API (consistent while
# the hub runs) or pg_dump -Fc in one snapshot, with a manifest of SHA-256 sums. This script only
# adds what that command deliberately does not do: copying the key files somewhere else.
# See deploy/README.md and keys/README.md.
set -eu

PROG=backup.sh

usage() {
    cat <<'EOF'
usage: backup.sh --out DIR (--kek-out DIR | --no-kek) [--data-dir DIR] [--database-url URL]

Writes a consistent copy of the hub's database into a new directory DIR/mappa-hub-<time>
(`mappa-hub backup`), and copies of the key-encryption key, of the pinned hub signing key
(hub-signing.pub) and of hub-cosigned.json (if there is one) into a DIFFERENT directory. Run it
as the hub's service user (sudo -u mappa-hub ...), with the service's environment.

  --out DIR           where the database backups go (created with mode 0700)
  --kek-out DIR       destination for the KEK, hub-signing.pub and hub-cosigned.json copies; must
                      be neither DIR nor inside it
  --no-kek            copy none of those (they are backed up another way, e.g. at the key
                      ceremony)
  --data-dir DIR      default: $MAPPA_HUB_DATA_DIR, else ./var
  --database-url URL  default: $MAPPA_HUB_DATABASE_URL, else SQLite <data-dir>/hub.sqlite3
  -h, --help          this text

The command run is $MAPPA_HUB_BIN if set, else mappa-hub on the PATH, else
/opt/mappa-hub/venv/bin/mappa-hub. The KEK is read from $MAPPA_HUB_KEK_PATH if set, else
<data-dir>/keys/kek.key; hub-signing.pub from $MAPPA_HUB_KEY_PINS if set, else the KEK's directory,
and hub-cosigned.json from beside it.

Exit status: 0 done, 1 a step failed, 2 bad usage.
EOF
}

usage_error() {
    printf '%s: %s\n\n' "$PROG" "$1" >&2
    usage >&2
    exit 2
}

fail() {
    printf '%s: %s\n' "$PROG" "$1" >&2
    exit 1
}

need_value() {
    # $1 option name, $2 number of remaining arguments including the option
    if [ "$2" -lt 2 ]; then
        usage_error "$1 needs a value"
    fi
}

OUT=
KEK_OUT=
NO_KEK=0
DATA_DIR=${MAPPA_HUB_DATA_DIR:-./var}
URL=${MAPPA_HUB_DATABASE_URL:-}

while [ $# -gt 0 ]; do
    case $1 in
        --out) need_value "$1" $#; OUT=$2; shift 2 ;;
        --out=*) OUT=${1#*=}; shift ;;
        --kek-out) need_value "$1" $#; KEK_OUT=$2; shift 2 ;;
        --kek-out=*) KEK_OUT=${1#*=}; shift ;;
        --no-kek) NO_KEK=1; shift ;;
        --data-dir) need_value "$1" $#; DATA_DIR=$2; shift 2 ;;
        --data-dir=*) DATA_DIR=${1#*=}; shift ;;
        --database-url) need_value "$1" $#; URL=$2; shift 2 ;;
        --database-url=*) URL=${1#*=}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done

[ -n "$OUT" ] || usage_error "--out is required"
if [ "$NO_KEK" = 1 ] && [ -n "$KEK_OUT" ]; then
    usage_error "give --kek-out or --no-kek, not both"
fi
if [ "$NO_KEK" = 0 ] && [ -z "$KEK_OUT" ]; then
    usage_error "give --kek-out DIR (a different place from --out), or --no-kek"
fi

# shellcheck source=deploy/backup/hub-command.sh
. "$(dirname "$0")/hub-command.sh"

umask 077
MADE=
make_dir() {
    if [ ! -d "$1" ]; then
        mkdir -p "$1"
        MADE="$MADE $1"
    fi
}
make_dir "$OUT"
OUT_ABS=$(cd "$OUT" && pwd -P)
if [ "$NO_KEK" = 0 ]; then
    make_dir "$KEK_OUT"
    KEK_OUT_ABS=$(cd "$KEK_OUT" && pwd -P)
    nested=0
    case "$KEK_OUT_ABS/" in "$OUT_ABS/"*) nested=1 ;; esac
    case "$OUT_ABS/" in "$KEK_OUT_ABS/"*) nested=1 ;; esac
    if [ "$nested" = 1 ]; then
        for d in $MADE; do rmdir "$d" 2>/dev/null || true; done
        usage_error "--out and --kek-out must be separate directories, neither inside the other: keep the KEK apart from the database backup"
    fi
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)

kek_id() {
    # The id the hub records beside every key it wraps (the manifest's kek_ids); not secret.
    if command -v sha256sum >/dev/null 2>&1; then
        { printf 'mappa-hub/kek-id/'; cat "$1"; } | sha256sum | cut -c1-16
    else
        echo unknown
    fi
}

# --- the database -------------------------------------------------------------------------------

DB_OUT=$OUT_ABS/mappa-hub-$STAMP
"$HUB" backup --out "$DB_OUT" || fail "mappa-hub backup failed (its message is above); nothing else was copied"
echo "database backup: $DB_OUT"

# --- the key-encryption key ---------------------------------------------------------------------

KEK=${MAPPA_HUB_KEK_PATH:-$DATA_DIR/keys/kek.key}
# The hub's pinned public signing key(s): not secret, but the anchor that keeps a database writer
# from signing checkpoints in the hub's name. It lives beside the KEK and is backed up with it, as
# is the newest checkpoint peer hubs cosigned (hub-cosigned.json), kept beside the pins.
PIN=${MAPPA_HUB_KEY_PINS:-$(dirname "$KEK")/hub-signing.pub}
COSIGNED=$(dirname "$PIN")/hub-cosigned.json

if [ "$NO_KEK" = 1 ]; then
    cat >&2 <<EOF

!!! WARNING: the KEK was NOT backed up (--no-kek), nor $PIN.
!!! $DB_OUT is useless without the KEK it names (manifest.json, kek_ids):
!!! make sure that key, and hub-signing.pub with it, are backed up elsewhere (keys/README.md).

EOF
    exit 0
fi

[ -f "$KEK" ] || fail "no KEK at $KEK (set MAPPA_HUB_KEK_PATH or --data-dir); database backup written, KEK NOT copied"
[ -r "$KEK" ] || fail "cannot read the KEK at $KEK; database backup written, KEK NOT copied"
KEK_COPY=$KEK_OUT_ABS/mappa-hub-kek-$STAMP.key
cp "$KEK" "$KEK_COPY"
chmod 600 "$KEK_COPY"
cmp -s "$KEK" "$KEK_COPY" || fail "the KEK copy $KEK_COPY differs from $KEK"
KEK_ID=$(kek_id "$KEK")

cat >&2 <<EOF

!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!! KEY-ENCRYPTION KEY COPIED TO $KEK_COPY   (kek id $KEK_ID)
!!!
!!! Whoever holds this file AND any database backup can read every packet in that backup.
!!! Store it apart from the database backups: different media, different place, different
!!! people (keys/README.md). Never send it over email or keep it beside $OUT_ABS.
!!! Without it the database backup cannot be read: losing every copy of the KEK loses everything.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

EOF
echo "KEK copy: $KEK_COPY"

# --- the pinned hub signing key and the cosigned checkpoint ---------------------------------------

if [ ! -f "$PIN" ]; then
    cat >&2 <<EOF

!!! NO $PIN: the hub signing key's pinned public half was NOT copied.
!!! 'mappa-hub init' writes it (the systemd unit runs init at every start); without it the hub
!!! makes no pin check, and the next init pins whatever key the database holds. If it was lost,
!!! restore it from an earlier KEK backup rather than letting init re-create it (keys/README.md).

EOF
    exit 1
fi
[ -r "$PIN" ] || fail "cannot read $PIN; database backup and KEK written, hub-signing.pub NOT copied"
PIN_COPY=$KEK_OUT_ABS/mappa-hub-signing-$STAMP.pub
cp "$PIN" "$PIN_COPY"
chmod 600 "$PIN_COPY"
cmp -s "$PIN" "$PIN_COPY" || fail "the copy $PIN_COPY differs from $PIN"
echo "hub-signing.pub copy: $PIN_COPY (not secret: keep it with the KEK copy; restore.sh finds it there)"

if [ -f "$COSIGNED" ]; then
    COSIGNED_COPY=$KEK_OUT_ABS/mappa-hub-cosigned-$STAMP.json
    cp "$COSIGNED" "$COSIGNED_COPY"
    chmod 600 "$COSIGNED_COPY"
    cmp -s "$COSIGNED" "$COSIGNED_COPY" || fail "the copy $COSIGNED_COPY differs from $COSIGNED"
    echo "hub-cosigned.json copy: $COSIGNED_COPY (not secret: keep it with the KEK copy)"
fi
