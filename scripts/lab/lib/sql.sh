# shellcheck shell=bash
# Database clients on lab hosts, as a webserver would connect: over the network, over TLS, as the app user,
# password from a file (never argv). A "target" is a named client profile stored on the client host under
# /root/.lab-clients/<target>.

# lab_client HOST TARGET ENGINE ADDRESS PORT USER DATABASE [CA_FILE_ON_HOST] < password
lab_client() {
  local host="$1" target="$2" engine="$3" address="$4" port="$5" user="$6" database="$7" ca="${8:-}" password
  password="$(cat)"
  case "$engine" in
  mariadb)
    {
      printf '[client]\nhost=%s\nport=%s\nuser=%s\ndatabase=%s\nssl=1\n' "$address" "$port" "$user" "$database"
      if [[ -n "$ca" ]]; then printf 'ssl-ca=%s\nssl-verify-server-cert=1\n' "$ca"; fi
      printf 'password=%s\n' "$password"
    } | lab_put "$host" "/root/.lab-clients/$target.cnf" 0600
    ;;
  postgres)
    printf '%s:%s:%s:%s:%s\n' "$address" "$port" "$database" "$user" "$(printf '%s' "$password" | sed 's/[\\:]/\\&/g')" |
      lab_put "$host" "/root/.lab-clients/$target.pgpass" 0600
    if [[ -n "$ca" ]]; then
      printf 'host=%s port=%s dbname=%s user=%s sslmode=verify-full sslrootcert=%s connect_timeout=5\n' "$address" "$port" "$database" "$user" "$ca"
    else
      printf 'host=%s port=%s dbname=%s user=%s sslmode=require connect_timeout=5\n' "$address" "$port" "$database" "$user"
    fi | lab_put "$host" "/root/.lab-clients/$target.conninfo" 0600
    ;;
  *) die "lab_client: unknown engine $engine" ;;
  esac
  printf '%s\n' "$engine" | lab_put "$host" "/root/.lab-clients/$target.engine" 0600
}

# lab_query HOST TARGET SQL   rows tab-separated, no header
lab_query() {
  local host="$1" target="$2" sql="$3" engine
  engine="$(lab_in "$host" cat "/root/.lab-clients/$target.engine")"
  case "$engine" in
  mariadb)
    lab_in "$host" timeout 60 mariadb --defaults-extra-file="/root/.lab-clients/$target.cnf" --connect-timeout=5 \
      --batch --skip-column-names -e "$sql"
    ;;
  postgres)
    lab_in "$host" env PGPASSFILE="/root/.lab-clients/$target.pgpass" timeout 60 \
      psql "$(lab_in "$host" cat "/root/.lab-clients/$target.conninfo")" -v ON_ERROR_STOP=1 -X -q -A -t -F $'\t' -c "$sql"
    ;;
  esac
}

# The TLS cipher of the client's own session (empty when plaintext).
lab_session_cipher() {
  local host="$1" target="$2" engine
  engine="$(lab_in "$host" cat "/root/.lab-clients/$target.engine")"
  case "$engine" in
  mariadb) lab_query "$host" "$target" "SHOW SESSION STATUS LIKE 'Ssl_cipher'" | cut -f2 ;;
  postgres) lab_query "$host" "$target" "SELECT cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()" ;;
  esac
}

# Counts and content digests of the app tables: equal digests mean equal data.
lab_app_digest() {
  local host="$1" target="$2" engine
  engine="$(lab_in "$host" cat "/root/.lab-clients/$target.engine")"
  case "$engine" in
  mariadb)
    lab_query "$host" "$target" "SET SESSION group_concat_max_len = 1073741824;
      SELECT (SELECT COUNT(*) FROM customers),
             (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, name, email) ORDER BY id SEPARATOR '\n')) FROM customers),
             (SELECT COUNT(*) FROM orders),
             (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, customer_id, total, IFNULL(note, '<null>')) ORDER BY id SEPARATOR '\n')) FROM orders)"
    ;;
  postgres)
    lab_query "$host" "$target" "SELECT (SELECT count(*) FROM customers),
             (SELECT md5(string_agg(concat_ws('|', id, name, email), E'\n' ORDER BY id)) FROM customers),
             (SELECT count(*) FROM orders),
             (SELECT md5(string_agg(concat_ws('|', id, customer_id, total, coalesce(note, '<null>')), E'\n' ORDER BY id)) FROM orders)"
    ;;
  esac
}

# Spot values that a lossy dump/restore would break: a quote and UTF-8, a NULL, an embedded newline.
lab_app_spot_check() {
  local host="$1" target="$2" name note10 note11
  name="$(lab_query "$host" "$target" "SELECT name FROM customers WHERE id = 17")"
  [[ "$name" == "Customer 17 O'Brien été" ]] || die "customers.name of id 17 is '$name'"
  note10="$(lab_query "$host" "$target" "SELECT COUNT(*) FROM orders WHERE id = 10 AND note IS NULL")"
  [[ "$note10" == 1 ]] || die "orders.note of id 10 is not NULL"
  note11="$(lab_query "$host" "$target" "SELECT COUNT(*) FROM orders WHERE id = 11 AND note = CONCAT('order 11', CHR(10), 'second line')")"
  [[ "$note11" == 1 ]] || die "orders.note of id 11 lost its newline"
}
