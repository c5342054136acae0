# Sourced by backup.sh and restore.sh (POSIX sh): find the mappa-hub command and hand it the
# data directory and database URL through the environment - a URL on a command line, with any
# password in it, would show in every user's ps. Needs DATA_DIR, URL and fail() set by the caller.

if [ -n "${MAPPA_HUB_BIN:-}" ]; then
    HUB=$MAPPA_HUB_BIN
elif command -v mappa-hub >/dev/null 2>&1; then
    HUB=mappa-hub
else
    HUB=/opt/mappa-hub/venv/bin/mappa-hub
fi
command -v "$HUB" >/dev/null 2>&1 || fail "$HUB not found (set MAPPA_HUB_BIN to the mappa-hub command)"

MAPPA_HUB_DATA_DIR=$DATA_DIR
export MAPPA_HUB_DATA_DIR
if [ -n "$URL" ]; then
    MAPPA_HUB_DATABASE_URL=$URL
    export MAPPA_HUB_DATABASE_URL
fi
