# A throwaway PostgreSQL server on 127.0.0.1 for the test suite.
# source this file, then: pg_test_start (exports MODELYARD_TEST_POSTGRES_URL), pg_test_stop.
# initdb refuses to run as root, so as root the server runs as the `postgres` user.

pg_test_start() {
  local bindir port
  bindir="$(pg_config --bindir)"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  PG_TEST_DIR="$(mktemp -d)"
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$PG_TEST_DIR"
    as=(runuser -u postgres --)
  fi
  PG_TEST_AS=("${as[@]}")
  PG_TEST_BIN="$bindir"
  "${as[@]}" "$bindir/initdb" -N -D "$PG_TEST_DIR/data" -U postgres --auth=trust -E UTF8 \
    --locale=C.UTF-8 >/dev/null
  "${as[@]}" "$bindir/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c fsync=off -c synchronous_commit=off -c max_connections=200" \
    start >/dev/null
  export MODELYARD_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
  echo "==> PostgreSQL test server on 127.0.0.1:$port (data in $PG_TEST_DIR)" >&2
}

pg_test_stop() {
  if [ -n "${PG_TEST_DIR:-}" ] && [ -d "$PG_TEST_DIR/data" ]; then
    "${PG_TEST_AS[@]}" "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m fast -w stop >/dev/null || true
    rm -rf "$PG_TEST_DIR"
  fi
}
