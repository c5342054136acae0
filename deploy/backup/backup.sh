#!/bin/sh
# Back up a MAPPA Hub: the database to one place, the key-encryption key (KEK) to ANOTHER, with
# the pinned hub signing key (hub-signing.pub, kept beside the KEK) next to the KEK copy.
#
# SQLite: sqlite3's online backup API (".backup"), consistent while the hub runs, WAL included.
# PostgreSQL: pg_dump -Fc. See deploy/README.md and keys/README.md.
set -eu

PROG=backup.sh

usage() {
    cat <<'EOF'
usage: backup.sh --out DIR (--kek-out DIR | --no-kek) [--data-dir DIR] [--database-url URL]

Writes a consistent copy of the hub's database into DIR, and a copy of the key-encryption key
and of the pinned hub signing key (hub-signing.pub) into a DIFFERENT directory. Run it as the
hub's service user (sudo -u mappa-hub ...).

  --out DIR           destination for the database backup (created with mode 0700)
  --kek-out DIR       destination for the KEK and hub-signing.pub copies; must be neither DIR nor
                      inside it
  --no-kek            copy neither the KEK nor hub-signing.pub (they are backed up another way,
                      e.g. at the key ceremony)
  --data-dir DIR      default: $MAPPA_HUB_DATA_DIR, else ./var
  --database-url URL  default: $MAPPA_HUB_DATABASE_URL, else SQLite <data-dir>/hub.sqlite3
  -h, --help          this text

The database is PostgreSQL when the URL starts with postgres:// or postgresql:// (pg_dump -Fc,
output *.pgdump), otherwise SQLite (sqlite3 ".backup", output *.sqlite3).
The KEK is read from $MAPPA_HUB_KEK_PATH if set, else <data-dir>/keys/kek.key, and
hub-signing.pub from the same directory as the KEK.

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

case $URL in
    postgres://* | postgresql://* | postgresql+asyncpg://*) KIND=postgresql ;;
    sqlite:///* | sqlite+aiosqlite:///*) KIND=sqlite; DB=${URL#*:///} ;;
    '') KIND=sqlite; DB=$DATA_DIR/hub.sqlite3 ;;
    *) usage_error "unsupported database URL: expected postgresql://... or sqlite:///..." ;;
esac

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
    # The id the hub records beside every key it wraps (agency_keys.kek_id); not secret.
    if command -v sha256sum >/dev/null 2>&1; then
        { printf 'mappa-hub/kek-id/'; cat "$1"; } | sha256sum | cut -c1-16
    else
        echo unknown
    fi
}

# --- the database -------------------------------------------------------------------------------

if [ "$KIND" = sqlite ]; then
    command -v sqlite3 >/dev/null 2>&1 || fail "sqlite3 not found (apt-get install sqlite3)"
    [ -f "$DB" ] || fail "no SQLite database at $DB (check --data-dir or --database-url)"
    # Opening a WAL database may create its -wal and -shm files; made by root, the hub could no
    # longer open them. Run as the file's owner.
    # shellcheck disable=SC2012 # POSIX has no stat(1); ls -ln's third field is the owner's uid
    owner=$(ls -ln "$DB" | awk '{print $3}')
    if [ "$(id -u)" = 0 ] && [ "$owner" != 0 ]; then
        fail "run as the database's owner (uid $owner), e.g. sudo -u mappa-hub $0 ..., not as root"
    fi
    DB_OUT=$OUT_ABS/mappa-hub-$STAMP.sqlite3
    case "$DB$DB_OUT" in
        *"'"*) fail "paths containing a single quote are not supported" ;;
    esac
    sqlite3 "$DB" ".backup '$DB_OUT'" || fail "sqlite3 .backup failed"
    check=$(sqlite3 "$DB_OUT" 'PRAGMA integrity_check;') || fail "cannot read the backup $DB_OUT"
    [ "$check" = ok ] || fail "integrity check of $DB_OUT failed: $check"
    SOURCE=$DB
else
    command -v pg_dump >/dev/null 2>&1 || fail "pg_dump not found (apt-get install postgresql-client)"
    command -v pg_restore >/dev/null 2>&1 || fail "pg_restore not found (apt-get install postgresql-client)"
    # The hub's URL spelling to libpq's: no +asyncpg, and asyncpg's ssl= is libpq's sslmode=.
    PGURL=$(printf '%s' "$URL" | sed -e 's#^postgresql+asyncpg://#postgresql://#' \
        -e 's#^postgres://#postgresql://#' -e 's#\([?&]\)ssl=#\1sslmode=#g')
    # Keep a password out of the process list: move it from the URL to PGPASSWORD.
    # (A percent-encoded password is not decoded here: use ~/.pgpass for those.)
    rest=${PGURL#postgresql://}
    case $rest in
        *@*)
            userinfo=${rest%@*}
            hostpart=${rest##*@}
            case $userinfo in
                *:*)
                    PGPASSWORD=${userinfo#*:}
                    export PGPASSWORD
                    PGURL="postgresql://${userinfo%%:*}@$hostpart"
                    ;;
            esac
            ;;
    esac
    DB_OUT=$OUT_ABS/mappa-hub-$STAMP.pgdump
    pg_dump --format=custom --file="$DB_OUT" --dbname="$PGURL" || fail "pg_dump failed"
    pg_restore --list "$DB_OUT" >/dev/null || fail "the dump $DB_OUT does not read back"
    SOURCE=$PGURL
fi
chmod 600 "$DB_OUT"

# --- the key-encryption key ---------------------------------------------------------------------

KEK=${MAPPA_HUB_KEK_PATH:-$DATA_DIR/keys/kek.key}
# The hub's pinned public signing key(s): not secret, but the anchor that keeps a database writer
# from signing checkpoints in the hub's name. It lives beside the KEK and is backed up with it.
PIN=$(dirname "$KEK")/hub-signing.pub
KEK_ID=unknown
if [ -r "$KEK" ]; then
    KEK_ID=$(kek_id "$KEK")
fi

{
    echo "backup: $STAMP"
    echo "database: $KIND $SOURCE"
    echo "file: $(basename "$DB_OUT")"
    echo "kek_id: $KEK_ID (the KEK itself is NOT in this directory)"
    echo "hub-signing.pub: NOT in this directory (backed up with the KEK)"
} >"$OUT_ABS/mappa-hub-$STAMP.info"
if command -v sha256sum >/dev/null 2>&1; then
    (cd "$OUT_ABS" && sha256sum "$(basename "$DB_OUT")" >"mappa-hub-$STAMP.sha256")
fi
echo "database backup: $DB_OUT"

if [ "$NO_KEK" = 1 ]; then
    cat >&2 <<EOF

!!! WARNING: the KEK was NOT backed up (--no-kek), nor $PIN.
!!! $DB_OUT is useless without KEK $KEK_ID:
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

# --- the pinned hub signing key -------------------------------------------------------------------

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
