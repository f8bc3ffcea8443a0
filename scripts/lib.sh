# Shared helpers for scripts/test and .ci/run. Source, don't run.

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "scripts: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# The independent checkers some tests shell out to.
need_debian_packages() {
    local missing=()
    command -v openssl >/dev/null || missing+=(openssl)
    command -v python3 >/dev/null || missing+=(python3)
    command -v curl >/dev/null || missing+=(curl)
    command -v scepclient >/dev/null || missing+=(scep)
    command -v cc >/dev/null || missing+=(gcc)
    # Headless Chromium and its WebDriver for the console's browser tests.
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "scripts: installing ${missing[*]}" >&2
        apt_install "${missing[@]}"
    fi
    # Python's jsonschema checks the committed policy JSON Schema.
    if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
        echo "scripts: installing python3-jsonschema" >&2
        apt_install python3-jsonschema || python3 -m pip install -q jsonschema
    fi
}

# PostgreSQL binaries: on PATH, or Debian's versioned directory.
find_pg_bindir() {
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ]; then echo "$d"; return; fi
    done
}

# Starts a private PostgreSQL on 127.0.0.1 and exports MDMKIT_TEST_POSTGRES_URL.
# The server and its directory are removed when the calling shell exits.
start_throwaway_postgres() {
    local bindir
    bindir=$(find_pg_bindir)
    if [ -z "$bindir" ]; then
        echo "scripts: installing postgresql" >&2
        apt_install postgresql
        bindir=$(find_pg_bindir)
    fi
    if [ -z "$bindir" ]; then
        echo "scripts: no PostgreSQL binaries found" >&2
        return 1
    fi

    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mdmkit-pg.XXXXXX")
    local run=()
    if [ "$(id -u)" -eq 0 ]; then
        # initdb refuses to run as root: run the server as the postgres user
        # (created by Debian's package) or nobody.
        local user=postgres
        id -u "$user" >/dev/null 2>&1 || user=nobody
        chown "$user" "$PG_TMP"
        chmod 700 "$PG_TMP"
        run=(runuser -u "$user" --)
    fi
    "${run[@]}" "$bindir/initdb" -D "$PG_TMP/data" -U postgres --auth=trust -E UTF8 >"$PG_TMP/initdb.log" 2>&1 || {
        cat "$PG_TMP/initdb.log" >&2
        return 1
    }

    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    "${run[@]}" "$bindir/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
        -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null || {
        cat "$PG_TMP/server.log" >&2
        return 1
    }
    PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$PG_TMP/data" -m immediate stop)
    trap 'stop_throwaway_postgres' EXIT
    export MDMKIT_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "scripts: throwaway PostgreSQL at $MDMKIT_TEST_POSTGRES_URL" >&2
}

stop_throwaway_postgres() {
    if [ -n "${PG_TMP:-}" ]; then
        "${PG_STOP[@]}" >/dev/null 2>&1 || true
        rm -rf "$PG_TMP"
        PG_TMP=""
    fi
}
