# shellcheck shell=bash
# Helpers shared by dev/demo and dev/test. Sourced, not run.
#
# Everything the dev scripts create lives in <repo>/.dev/ (git-ignored):
#   (the addons path is a link <tmp>/account_collection-addons-<hash>/account_collection
#    -> <repo>, outside the repository: Odoo wants the addon folder to be named after
#    the module, the checkout may be named anything; then <repo>/bridges, the small
#    modules shipped with the addon that connect it to an optional Odoo app and install
#    themselves with it (account_collection_sale); then <repo>/dev/addons, the
#    test-only addons that never ship: account_collection_bench, the book generator
#    and the benchmark)
#   .dev/pg/{data,run,postgres.log}            private PostgreSQL cluster: unix
#                                               socket only, no TCP port opened
#   .dev/data/                                 Odoo data dir (filestore, sessions)
#   .dev/*.log                                 Odoo logs
#
# Environment overrides (all optional):
#   ADDON_DIR  addon source folder (default: the repository root)
#   PG_PORT    port of the private cluster; only names its unix socket (default 54329)
#   PG_DIR     where the cluster lives (default .dev/pg)
#   KEEP_PG=1  leave the cluster running when the script ends

ADDON=account_collection
# the test-only addon of dev/generate-book, dev/benchmark and their test (dev/addons)
BENCH_ADDON=account_collection_bench
# the bridge modules of bridges/, each installed by itself with the Odoo app it connects to
SALE_BRIDGE=account_collection_sale
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DEV_ADDONS=$REPO/dev/addons
DEV=$REPO/.dev
ADDON_DIR=${ADDON_DIR:-$REPO}
PG_PORT=${PG_PORT:-54329}
DB_USER=odoo
ODOO_DOC=https://www.odoo.com/documentation/19.0/administration/on_premise/source.html

say() { printf '%s: %s\n' "$ADDON" "$*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------------------
# Odoo and dependencies
# ---------------------------------------------------------------------------

# The only thing we do not install ourselves: Odoo 19, importable by python3.
check_odoo() {
    local major
    # cd /: keep the current directory (e.g. the addon root) off sys.path
    if ! major=$(cd / && python3 -c 'import odoo.release; print(odoo.release.version_info[0])' 2>/dev/null) \
        || [[ $major != 19 ]]; then
        echo "$ADDON: Odoo 19 is not importable by python3; install Odoo 19 first ($ODOO_DOC)" >&2
        exit 1
    fi
}

as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# Newest PostgreSQL server bin dir, or the one matching an existing cluster.
find_pg_bin() {
    local version_file=${PG_DIR:-$DEV/pg}/data/PG_VERSION initdb
    if [[ -r $version_file && -x /usr/lib/postgresql/$(<"$version_file")/bin/initdb ]]; then
        echo "/usr/lib/postgresql/$(<"$version_file")/bin"
        return
    fi
    initdb=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
    [[ -x $initdb ]] && dirname "$initdb"
}

have_browser() {
    # the executables odoo/tests/common.py:_find_executable looks for
    command -v google-chrome || command -v chromium || command -v chromium-browser \
        || command -v google-chrome-stable
} >/dev/null

# Install what is missing: Debian packages, then the Python packages listed in
# dev/requirements.txt. Usage: ensure_deps with-browser|without-browser
ensure_deps() {
    local apt=() pip=() line req mod cmd out
    [[ -n $(find_pg_bin) ]] || apt+=(postgresql)
    if [[ $1 == with-browser ]] && ! have_browser; then
        apt+=(chromium)
    fi
    if ((${#apt[@]})); then
        command -v apt-get >/dev/null || die "missing ${apt[*]} and no apt-get to install them"
        say "installing Debian packages: ${apt[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt[@]}" >/dev/null
        [[ -n $(find_pg_bin) ]] || die "PostgreSQL server programs not found in /usr/lib/postgresql/*/bin"
    fi

    # requirements.txt lines: "<requirement>  # import: <module to check>", or
    # "<requirement>  # command: <program to find on PATH>" for a tool (ruff)
    while IFS= read -r line || [[ -n $line ]]; do
        req=${line%%#*}
        req=${req//[[:space:]]/}
        [[ -n $req ]] || continue
        if [[ $line =~ \#[[:space:]]*command:[[:space:]]*([A-Za-z0-9_.-]+) ]]; then
            cmd=${BASH_REMATCH[1]}
            command -v "$cmd" >/dev/null || pip+=("$req")
            continue
        fi
        if [[ $line =~ \#[[:space:]]*import:[[:space:]]*([A-Za-z0-9_.]+) ]]; then
            mod=${BASH_REMATCH[1]}
        else
            mod=${req%%[<>=!~;[]*}
            mod=${mod//-/_}
        fi
        (cd / && python3 -c "import $mod" 2>/dev/null) || pip+=("$req")
    done <"$REPO/dev/requirements.txt"
    if ((${#pip[@]})); then
        say "installing Python packages: ${pip[*]}"
        export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
        if ! out=$(python3 -m pip install -q "${pip[@]}" 2>&1); then
            # Debian's own python3 refuses pip installs unless told otherwise
            if [[ $out == *externally-managed-environment* ]]; then
                python3 -m pip install -q --break-system-packages "${pip[@]}"
            else
                printf '%s\n' "$out" >&2
                die "pip install ${pip[*]} failed"
            fi
        fi
    fi
}

# <tmp>/account_collection-addons-<hash>/account_collection -> addon folder;
# prints the --addons-path value: that folder, then dev/addons (the test-only addons,
# on the path of the dev scripts and CI only, never in the shipped addon's manifest).
# The link lives outside the repository so that nothing walking the addon's folder
# (translation export, linters) loops through it.
# Odoo adds its own addons folders (odoo/addons and <odoo>/../addons) by itself.
addons_path() {
    [[ -f $ADDON_DIR/__manifest__.py ]] || die "no __manifest__.py in $ADDON_DIR"
    local dir link
    dir=${TMPDIR:-/tmp}/$ADDON-addons-$(printf '%s' "$ADDON_DIR" | md5sum | cut -c1-10)
    mkdir -p "$dir"
    link=$dir/$ADDON
    if [[ $(readlink "$link" 2>/dev/null) != "$ADDON_DIR" ]]; then
        ln -sfn "$ADDON_DIR" "$link"
    fi
    echo "$dir,$ADDON_DIR/bridges,$DEV_ADDONS"
}

# ---------------------------------------------------------------------------
# Private PostgreSQL cluster
# ---------------------------------------------------------------------------

# PostgreSQL refuses to run as root: run the server programs as `postgres`.
as_pg() {
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Can the server user create files in $1 (and reach it)?
pg_dir_usable() {
    mkdir -p "$1/run" || return 1
    if ((EUID == 0)); then
        id postgres >/dev/null 2>&1 || die "no 'postgres' system user (is the postgresql package installed?)"
        chown postgres: "$1" "$1/run"
    fi
    as_pg test -w "$1" -a -x "$1" -a -w "$1/run"
}

# Sets PG_DIR PG_BIN PG_DATA PG_RUN PG_LOG.
pg_paths() {
    if [[ -z ${PG_DIR:-} ]]; then
        PG_DIR=$DEV/pg
        # Fall back to /var/tmp when the postgres user cannot reach the checkout
        # (e.g. it is under /root) or the socket path would be too long (107 max).
        if ((${#PG_DIR} + 20 > 107)) || ! pg_dir_usable "$PG_DIR"; then
            PG_DIR=/var/tmp/$ADDON-pg-$(printf %s "$REPO" | md5sum | cut -c1-8)
            say "note: the cluster lives in $PG_DIR ($DEV/pg is out of the postgres user's reach, or its socket path would be too long)"
        fi
    fi
    pg_dir_usable "$PG_DIR" || die "the PostgreSQL server user cannot write $PG_DIR"
    PG_BIN=$(find_pg_bin) || die "PostgreSQL server programs not found in /usr/lib/postgresql/*/bin"
    PG_DATA=$PG_DIR/data
    PG_RUN=$PG_DIR/run
    PG_LOG=$PG_DIR/postgres.log
}

# psql as role $1 on database $2, unaligned output; the SQL is $3.
pg_sql() {
    "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -U "$1" -d "$2" -c "$3"
}

pg_running() {
    [[ -s $PG_DATA/PG_VERSION ]] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# Start the cluster (creating it on first use) unless it runs already, and
# register this script as one of its users. Concurrent dev/demo and dev/test runs
# share the cluster:
#   fd 8 = $PG_DIR/lock        exclusive while starting or stopping the cluster
#   fd 9 = $PG_DIR/users.lock  shared lock held by every script using it (and
#                              inherited by its Odoo), so the last one out knows
pg_attach() {
    pg_paths
    exec 8>"$PG_DIR/lock" 9>"$PG_DIR/users.lock"
    flock 8
    if ! pg_running; then
        if [[ ! -s $PG_DATA/PG_VERSION ]]; then
            local locale=C
            locale -a 2>/dev/null | grep -qix 'c\.utf-\?8' && locale=C.UTF-8
            say "creating a PostgreSQL cluster in $PG_DATA"
            as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust \
                --encoding=UTF8 --locale="$locale" >"$DEV/initdb.log" 2>&1 \
                || { cat "$DEV/initdb.log" >&2; die "initdb failed"; }
        fi
        say "starting PostgreSQL (socket $PG_RUN, port $PG_PORT, log $PG_LOG)"
        # listen_addresses='': unix socket only. fsync off: a throwaway dev cluster.
        # The server must not inherit our lock fds (7: dev/test's HTTP port).
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
            -o "-c listen_addresses='' -k '$PG_RUN' -p $PG_PORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null 7>&- 8>&- 9>&- \
            || { tail -n 20 "$PG_LOG" >&2; die "PostgreSQL did not start (log: $PG_LOG)"; }
        : >"$PG_RUN/started-by-dev-scripts"
    fi
    "$PG_BIN/pg_isready" -q -h "$PG_RUN" -p "$PG_PORT" \
        || die "the cluster in $PG_DATA runs, but not on port $PG_PORT (see $PG_LOG)"
    if [[ $(pg_sql postgres postgres "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'") != 1 ]]; then
        # Odoo refuses to connect as `postgres`
        pg_sql postgres postgres "CREATE ROLE $DB_USER LOGIN SUPERUSER" >/dev/null
    fi
    flock -s 9
    flock -u 8
    PG_ATTACHED=1
}

# Stop the cluster if a dev script started it and no other one still uses it
# (and KEEP_PG is not set). Safe to call twice (EXIT trap + explicit call).
pg_release() {
    [[ ${PG_ATTACHED:-0} == 1 ]] || return 0
    PG_ATTACHED=0
    flock 8
    # converting our shared lock to exclusive only works if we are the last user
    if [[ -z ${KEEP_PG:-} && -e $PG_RUN/started-by-dev-scripts ]] && flock -x -n 9; then
        if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >>"$PG_DIR/pg_ctl.log" 2>&1; then
            rm -f "$PG_RUN/started-by-dev-scripts"
        else
            say "could not stop PostgreSQL (see $PG_LOG)"
        fi
    fi
    exec 8>&- 9>&-
}

# Odoo options shared by dev/demo and dev/test (after `python3 -m odoo server`).
# --config: ignore ~/.odoorc; a developer may put personal options in .dev/odoo.conf
# (created empty here; Odoo refuses a missing config file).
odoo_common_args() {
    local path
    path=$(addons_path)
    [[ -e $DEV/odoo.conf ]] \
        || printf '[options]\n; personal Odoo options for dev/demo and dev/test (command-line options win)\n' >"$DEV/odoo.conf"
    # shellcheck disable=SC2034  # used by the scripts sourcing this file
    ODOO_ARGS=(
        --config="$DEV/odoo.conf"
        --addons-path="$path"
        --data-dir="$DEV/data"
        --db_host="$PG_RUN" --db_port="$PG_PORT" --db_user="$DB_USER"
    )
}

# State of module $2 in database $1 (empty when either does not exist).
module_state() {
    pg_sql "$DB_USER" "$1" "SELECT state FROM ir_module_module WHERE name = '$2'" 2>/dev/null || true
}

# Install the test-only addon (the book generator and the benchmark run from it) in
# database $1 unless it is there already (dev/generate-book --append, dev/benchmark on
# a book written before it existed). After odoo_common_args.
ensure_bench_addon() {
    [[ $(module_state "$1" "$BENCH_ADDON") != installed ]] || return 0
    say "installing $BENCH_ADDON in $1 (log: $DEV/bench-addon-$1.log)"
    run_odoo "${ODOO_ARGS[@]}" -d "$1" -i "$BENCH_ADDON" --stop-after-init --no-http \
        >"$DEV/bench-addon-$1.log" 2>&1 \
        || { tail -n 20 "$DEV/bench-addon-$1.log" >&2; die "installing $BENCH_ADDON failed"; }
}

# Run Odoo from .dev/ so that the current directory (e.g. the addon root, whose
# models/, tests/... folders would shadow top-level modules) is not on sys.path.
run_odoo() {
    (cd "$DEV" && exec python3 -m odoo server "$@")
}

# Odoo's shell, running the Python script read from stdin with `env` (superuser) set
# (dev/generate-book, dev/benchmark).
run_odoo_shell() {
    (cd "$DEV" && exec python3 -m odoo shell "$@")
}
