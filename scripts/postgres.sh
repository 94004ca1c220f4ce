# Sourced by scripts/run and scripts/test: make sure the PostgreSQL server named by
# DATABASE_URL (default postgres://postgres@127.0.0.1:5432/trackway) answers.
#
# Reachable: nothing to do. Not reachable and local: start the installed cluster (as root,
# first allowing the local trust login the default URL uses); none installed and we are root:
# install Debian's `postgresql` package first. Otherwise: say exactly what to install, and stop.

DEFAULT_DATABASE_URL="postgres://postgres@127.0.0.1:5432/trackway"
export DATABASE_URL="${DATABASE_URL:-$DEFAULT_DATABASE_URL}"

# host and port from postgres://[user[:password]@]host[:port]/database
_pg_rest="${DATABASE_URL#*://}"
_pg_rest="${_pg_rest##*@}"
_pg_hostport="${_pg_rest%%/*}"
PG_HOST="${_pg_hostport%%:*}"
PG_PORT="${_pg_hostport##*:}"
[ "$PG_PORT" = "$_pg_hostport" ] && PG_PORT=5432
# The server without a database name: where the tests create theirs.
PG_SERVER_URL="${DATABASE_URL%/*}"

_pg_reachable() {
    (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
}

_pg_wait() {
    for _ in $(seq 1 60); do
        _pg_reachable && return 0
        sleep 0.5
    done
    return 1
}

# The default URL logs in as postgres without a password: allow that on loopback only (root).
_pg_allow_trust() {
    local version="$1" hba
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    [ "$(id -u)" = 0 ] && [ -w "$hba" ] || return 0
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
}

# Starts the newest installed cluster, or reloads it when it is already running (the package's
# install may have started it).
_pg_start_local_cluster() {
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || return 1
    _pg_allow_trust "$version"
    if pg_ctlcluster --skip-systemctl-redirect "$version" main status >/dev/null 2>&1; then
        echo "==> reloading the running PostgreSQL $version cluster"
        pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    else
        echo "==> starting the local PostgreSQL $version cluster"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
}

_pg_install() {
    echo "==> no PostgreSQL server found: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
}

ensure_postgres() {
    _pg_reachable && return 0
    case "$PG_HOST" in
        127.0.0.1|localhost) ;;
        *)
            echo "error: PostgreSQL at $PG_HOST:$PG_PORT (DATABASE_URL) is not reachable." >&2
            return 1
            ;;
    esac
    if command -v pg_ctlcluster >/dev/null && _pg_start_local_cluster && _pg_wait; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        _pg_install && _pg_start_local_cluster && _pg_wait && return 0
    fi
    cat >&2 <<MSG
error: no PostgreSQL answers at $PG_HOST:$PG_PORT and none could be started here.
Install and start one, e.g. on Debian/Ubuntu (as root):
    apt-get install -y postgresql && pg_ctlcluster \$(ls /etc/postgresql) main start
then allow the default login (or set DATABASE_URL to one that works):
    echo 'host all all 127.0.0.1/32 trust' >> /etc/postgresql/*/main/pg_hba.conf
MSG
    return 1
}
