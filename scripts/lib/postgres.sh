# Sourced by scripts/test and scripts/demo: make sure a Postgres is reachable
# and export DATABASE_URL for a role that may create databases and roles.
#
# Order: an existing DATABASE_URL wins; else the local server on
# 127.0.0.1:5432 (started if installed but stopped, installed with apt-get if
# absent).

PG_HOST=127.0.0.1
PG_PORT=5432

log() { printf '%s\n' "$*" >&2; }

can_connect() {
    psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

install_postgres() {
    log "Postgres is not installed: installing it with apt-get (needs root or sudo)."
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
}

start_postgres() {
    local version
    for version in $(ls /etc/postgresql 2>/dev/null); do
        log "Starting the local Postgres $version cluster."
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
            || as_root pg_ctlcluster "$version" main start || true
    done
    for _ in $(seq 1 30); do
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && return 0
        sleep 1
    done
    log "error: Postgres did not come up on $PG_HOST:$PG_PORT; see /var/log/postgresql/."
    return 1
}

ensure_postgres() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        log "Using the Postgres in DATABASE_URL."
        return 0
    fi
    command -v psql >/dev/null && command -v pg_isready >/dev/null || install_postgres
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || start_postgres

    local trusted="postgres://postgres@$PG_HOST:$PG_PORT/postgres"
    local with_password="postgres://postgres:postgres@$PG_HOST:$PG_PORT/postgres"
    if can_connect "$trusted"; then
        export DATABASE_URL=$trusted
    elif can_connect "$with_password"; then
        export DATABASE_URL=$with_password
    else
        # A fresh Debian install accepts the postgres user over the local
        # socket only: give it a password for TCP, as the tests connect.
        log "Setting a password for the local postgres user (fresh install)."
        as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
        can_connect "$with_password" || {
            log "error: cannot connect to Postgres on $PG_HOST:$PG_PORT as postgres; set DATABASE_URL."
            return 1
        }
        export DATABASE_URL=$with_password
    fi
}
