#!/bin/bash
# Entry point with the official postgres image's behaviour: first start runs initdb with
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB and the scripts in /docker-entrypoint-initdb.d,
# then postgres runs as PID 1 (as the postgres user) so signals reach it.
set -Eeo pipefail

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
            echo "Error: Database is uninitialized and superuser password is not specified." >&2
            echo "       Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)." >&2
            exit 1
        fi
        POSTGRES_USER="${POSTGRES_USER:-postgres}"
        POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
        pwfile="$(mktemp)"
        printf '%s' "${POSTGRES_PASSWORD:-}" >"$pwfile"
        chown postgres "$pwfile"
        # C.UTF-8 is built into glibc; without it the cluster would be SQL_ASCII.
        as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >/dev/null
        rm -f "$pwfile"
        echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
        echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
        # Temporary server on the socket only, so nobody connects before init is done.
        as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start >/dev/null
        if [ "$POSTGRES_DB" != postgres ]; then
            as_postgres psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -q \
                -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
        fi
        for f in /docker-entrypoint-initdb.d/*; do
            case "$f" in
                *.sh) echo "running $f"; . "$f" ;;
                *.sql) echo "running $f"; as_postgres psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$f" ;;
                *) ;;
            esac
        done
        as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
        echo "PostgreSQL init process complete; ready for start up."
    fi
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
fi

exec "$@"
