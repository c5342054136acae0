#!/bin/sh
# Restore a MAPPA Hub backup made by backup.sh: the database, and (separately) the KEK with the
# pinned hub signing key (hub-signing.pub) that was backed up beside it.
#
# Stop the hub first (systemctl stop mappa-hub). Nothing is overwritten without --force, and with
# --force the current files are kept beside the new ones as *.pre-restore-<time>.
set -eu

PROG=restore.sh

usage() {
    cat <<'EOF'
usage: restore.sh --from FILE [--kek FILE] [--hub-key FILE] [--force] [--data-dir DIR]
                  [--database-url URL]

Restores a database backup written by backup.sh into the hub's data directory (SQLite) or
database (PostgreSQL), and optionally the key-encryption key and the pinned hub signing key.
Stop the hub first.

  --from FILE         the database backup: *.sqlite3 (SQLite) or *.pgdump (pg_dump -Fc)
  --kek FILE          the KEK copy to install at the KEK path (32 bytes)
  --hub-key FILE      the hub-signing.pub copy to install beside the KEK; by default, with --kek
                      mappa-hub-kek-<time>.key, the mappa-hub-signing-<time>.pub beside it
  --force             replace an existing database / a different KEK or hub-signing.pub; the
                      current SQLite files, KEK and hub-signing.pub are kept as
                      *.pre-restore-<time>, a PostgreSQL database is cleaned
  --data-dir DIR      default: $MAPPA_HUB_DATA_DIR, else ./var
  --database-url URL  default: $MAPPA_HUB_DATABASE_URL, else SQLite <data-dir>/hub.sqlite3
  -h, --help          this text

The KEK path is $MAPPA_HUB_KEK_PATH if set, else <data-dir>/keys/kek.key; hub-signing.pub goes
in the same directory, read-only (0444).
A missing KEK can only be restored: `mappa-hub init` refuses to create a new one for a database
that holds keys, and the hub refuses a KEK that does not match them. Restore hub-signing.pub
with it: without that file `mappa-hub init` pins whatever hub key the restored database holds.

Exit status: 0 done, 1 a step failed or restore refused, 2 bad usage.
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
[ -f "$FROM" ] || usage_error "no such backup file: $FROM"
if [ -n "$KEK_FROM" ] && [ ! -f "$KEK_FROM" ]; then
    usage_error "no such KEK file: $KEK_FROM"
fi
if [ -n "$PIN_FROM" ] && [ ! -f "$PIN_FROM" ]; then
    usage_error "no such hub-signing.pub copy: $PIN_FROM"
fi
# backup.sh writes mappa-hub-kek-<time>.key and mappa-hub-signing-<time>.pub side by side.
if [ -z "$PIN_FROM" ] && [ -n "$KEK_FROM" ]; then
    case $(basename "$KEK_FROM") in
        mappa-hub-kek-*.key)
            stamp=$(basename "$KEK_FROM" .key)
            stamp=${stamp#mappa-hub-kek-}
            candidate=$(dirname "$KEK_FROM")/mappa-hub-signing-$stamp.pub
            if [ -f "$candidate" ]; then
                PIN_FROM=$candidate
                echo "hub-signing.pub copy found beside the KEK copy: $PIN_FROM"
            fi
            ;;
    esac
fi

case $URL in
    postgres://* | postgresql://* | postgresql+asyncpg://*) KIND=postgresql ;;
    sqlite:///* | sqlite+aiosqlite:///*) KIND=sqlite; DB=${URL#*:///} ;;
    '') KIND=sqlite; DB=$DATA_DIR/hub.sqlite3 ;;
    *) usage_error "unsupported database URL: expected postgresql://... or sqlite:///..." ;;
esac

# The backup must be of the kind the target is.
magic=$(dd if="$FROM" bs=15 count=1 2>/dev/null | tr -d '\000')
if [ "$KIND" = sqlite ]; then
    [ "$magic" = "SQLite format 3" ] || usage_error "$FROM is not a SQLite database (target is SQLite)"
else
    case $magic in
        PGDMP*) ;;
        *) usage_error "$FROM is not a pg_dump custom-format file (target is PostgreSQL)" ;;
    esac
fi

KEK=${MAPPA_HUB_KEK_PATH:-$DATA_DIR/keys/kek.key}
PIN=$(dirname "$KEK")/hub-signing.pub
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
umask 077

kek_id() {
    if command -v sha256sum >/dev/null 2>&1; then
        { printf 'mappa-hub/kek-id/'; cat "$1"; } | sha256sum | cut -c1-16
    else
        echo unknown
    fi
}

# As root, hand restored files to whoever owns the data directory (the hub's service user).
chown_like_data_dir() {
    if [ "$(id -u)" = 0 ] && [ -d "$DATA_DIR" ]; then
        # shellcheck disable=SC2012 # POSIX has no stat(1); ls -lnd gives uid and gid
        ids=$(ls -lnd "$DATA_DIR" | awk '{print $3 ":" $4}')
        chown "$ids" "$@"
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
            fail "refusing to replace the different KEK at $KEK without --force"
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
            fail "refusing to replace the different $PIN without --force"
        fi
    else
        PIN_ACTION=install
    fi
fi

if [ "$KIND" = sqlite ]; then
    command -v sqlite3 >/dev/null 2>&1 || fail "sqlite3 not found (apt-get install sqlite3)"
    if [ -e "$DB" ] || [ -e "$DB-wal" ]; then
        [ "$FORCE" = 1 ] || fail "refusing to overwrite $DB without --force (stop the hub first)"
    fi
else
    command -v pg_restore >/dev/null 2>&1 || fail "pg_restore not found (apt-get install postgresql-client)"
    command -v psql >/dev/null 2>&1 || fail "psql not found (apt-get install postgresql-client)"
    PGURL=$(printf '%s' "$URL" | sed -e 's#^postgresql+asyncpg://#postgresql://#' \
        -e 's#^postgres://#postgresql://#' -e 's#\([?&]\)ssl=#\1sslmode=#g')
    # Keep a password out of the process list (a percent-encoded one: use ~/.pgpass instead).
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
    in_use=$(psql -X -q -t -A -d "$PGURL" -c "SELECT to_regclass('public.alembic_version') IS NOT NULL") ||
        fail "cannot connect to the database (create it with deploy/postgres/setup.sql first)"
    if [ "$in_use" = t ] && [ "$FORCE" = 0 ]; then
        fail "refusing to overwrite the hub's tables in the target database without --force (stop the hub first)"
    fi
fi

# --- the database --------------------------------------------------------------------------------

if [ "$KIND" = sqlite ]; then
    DB_DIR=$(dirname "$DB")
    mkdir -p "$DB_DIR"
    TMP=$DB.restoring-$$
    cp "$FROM" "$TMP"
    chmod 600 "$TMP"
    check=$(sqlite3 "$TMP" 'PRAGMA integrity_check;') || check="unreadable"
    rm -f "$TMP-wal" "$TMP-shm"
    if [ "$check" != ok ]; then
        rm -f "$TMP"
        fail "integrity check of $FROM failed: $check (nothing changed)"
    fi
    # A stale -wal or -shm beside the restored file would be replayed into it: move them all aside.
    for suffix in '' -wal -shm -journal; do
        if [ -e "$DB$suffix" ]; then
            mv "$DB$suffix" "$DB$suffix.pre-restore-$STAMP"
            echo "kept the previous $DB$suffix as $DB$suffix.pre-restore-$STAMP"
        fi
    done
    mv "$TMP" "$DB"
    chown_like_data_dir "$DB"
    echo "database restored: $DB"
    DB_KEK_IDS=$(sqlite3 "$DB" 'SELECT DISTINCT kek_id FROM agency_keys;' 2>/dev/null || true)
    # The hub's signing keys (none in a database from before migration 0003).
    DB_HUB_KEYS=$(sqlite3 "$DB" 'SELECT lower(hex(public_key)) FROM hub_keys;' 2>/dev/null || true)
    rm -f "$DB-wal" "$DB-shm"
else
    pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction \
        --exit-on-error --dbname="$PGURL" "$FROM" || fail "pg_restore failed; the transaction was rolled back"
    echo "database restored: $PGURL"
    # The log stays append-only for the gateways' role (migration 0023): its trigger came back
    # with the schema, but --no-privileges restored no grants and the owner's default privileges
    # gave the recreated tables' UPDATE and DELETE to the runtime role; take them back.
    psql -X -q -v ON_ERROR_STOP=1 -d "$PGURL" <<'SQL' || fail "could not take UPDATE/DELETE on the log back from the runtime role"
REVOKE UPDATE, DELETE, TRUNCATE ON ledger_entries, ledger_checkpoints FROM PUBLIC;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT DISTINCT c.relname AS t, pg_get_userbyid(a.grantee) AS g
             FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid IN (to_regclass('ledger_entries'), to_regclass('ledger_checkpoints'))
               AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
               AND a.grantee <> c.relowner AND a.grantee <> 0
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM %I', r.t, r.g);
    END LOOP;
END
$$;
SQL
    DB_KEK_IDS=$(psql -X -q -t -A -d "$PGURL" -c 'SELECT DISTINCT kek_id FROM agency_keys' 2>/dev/null || true)
    DB_HUB_KEYS=$(psql -X -q -t -A -d "$PGURL" -c "SELECT encode(public_key, 'hex') FROM hub_keys" 2>/dev/null || true)
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

# --- the pinned hub signing key --------------------------------------------------------------------

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

# --- does the KEK fit the database? ------------------------------------------------------------------

if [ ! -e "$KEK" ]; then
    cat >&2 <<EOF

!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!! There is NO KEK at $KEK. The hub will not start, and nothing in the database can be read.
!!! Restore it: $PROG --from $FROM --kek /path/to/mappa-hub-kek-....key
!!! 'mappa-hub init' cannot replace it: it refuses to create a new KEK for a database with keys.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

EOF
    exit 1
fi

if [ -r "$KEK" ] && [ -n "$DB_KEK_IDS" ]; then
    HAVE=$(kek_id "$KEK")
    if [ "$HAVE" != unknown ]; then
        for id in $DB_KEK_IDS; do
            if [ "$id" != "$HAVE" ]; then
                cat >&2 <<EOF

!!! MISMATCH: the database holds keys wrapped under KEK $id, but the KEK at $KEK is $HAVE.
!!! Those keys (and the packets sealed to them) will not open, and the hub refuses to start with
!!! this KEK. Restore the matching KEK.

EOF
                exit 1
            fi
        done
        echo "KEK $HAVE matches the database"
    fi
fi

# --- is every hub signing key in the database pinned? -----------------------------------------------

if [ -n "$DB_HUB_KEYS" ]; then
    if [ ! -e "$PIN" ]; then
        cat >&2 <<EOF

!!! There is NO $PIN, but the database holds hub signing keys.
!!! Without it the hub makes no pin check, and the next 'mappa-hub init' pins whatever key this
!!! database holds. Restore it from the KEK backup: $PROG ... --hub-key /path/to/mappa-hub-signing-....pub

EOF
        exit 1
    fi
    for key in $DB_HUB_KEYS; do
        if ! grep -qixF "$key" "$PIN"; then
            cat >&2 <<EOF

!!! MISMATCH: the database holds the hub signing key $key,
!!! which is not pinned in $PIN. 'mappa-hub ledger verify' refuses checkpoints signed with it,
!!! and 'mappa-hub init' pins it if the file is writable (or stops if it is not). Find out where
!!! it came from (a database from another hub? a key inserted by hand?) before starting the hub.

EOF
            exit 1
        fi
    done
    echo "every hub signing key in the database is pinned in $PIN"
fi

cat <<EOF

Next: start the hub (systemctl start mappa-hub) and check the log against the checkpoints held
outside the hub (a backup older than a held checkpoint is reported as "shorter than the
checkpoint": the entries since the backup are lost, record that):
  mappa-hub ledger verify --checkpoint /path/to/held-checkpoint.json
EOF
