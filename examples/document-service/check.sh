#!/usr/bin/env bash
# Runs the example as its user would: the document service on a fresh SQLite
# database, built with only the `sqlite` feature, with the OPENAI_* variables
# pointing at a stub model (which also plays the vector store) on loopback.
# It signs in with our API, keeps a `vector_store` connection, has a key
# scoped `documents:write` summarize a document through the service's own
# route (the default `llm` connection, the vector store's sealed secret),
# finds the registered `summarize_document` action in our audit log, and
# checks that such a key can do nothing else. Then `curatore-server secrets
# rotate` moves every secret to a new key, the old key is dropped, and the
# service still opens the vector store's secret.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cargo build --quiet --locked -p document-service --manifest-path "$root/Cargo.toml"
cargo build --quiet --locked -p curatore-server --manifest-path "$root/Cargo.toml"
bin="$root/target/debug/document-service"
server="$root/target/debug/curatore-server"
# One engine, nothing unused: no PostgreSQL driver, no OpenAPI, no RSA.
leaked="$(cargo tree --quiet --locked -p document-service -e normal --prefix none --manifest-path "$root/Cargo.toml" \
  | grep -E '^(sqlx-postgres|utoipa|utoipa-swagger-ui|rsa|clap) ' || true)"
[ -z "$leaked" ] || { echo "document-service: FAILED: built with more than it asked for: $leaked" >&2; exit 1; }
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "document-service: FAILED: $*" >&2; tail -20 "$work/service.log" >&2 || true; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The stub model: an OpenAI-style chat endpoint that wants the configured key.
model_port="$(free_port)"
python3 - "$model_port" >"$work/model.log" 2>&1 <<'PY' &
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Model(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/store":
            # The vector store: wants the secret sealed in its connection.
            self.send_response(204 if self.headers["Authorization"] == "Bearer vs-secret-1" else 401)
            self.end_headers()
            return
        ok = self.path == "/v1/chat/completions" and self.headers["Authorization"] == "Bearer sk-stub-key"
        text = "A summary of: " + body["messages"][0]["content"].splitlines()[-1] if ok else "refused"
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
HTTPServer(("127.0.0.1", int(sys.argv[1])), Model).serve_forever()
PY
pids+=($!)

port="$(free_port)"
jwt="document-service-check-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
key() { echo "$1:$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')"; }
old_key="$(key k1)"
new_key="$(key k2)"
# run PROGRAM SECRETS_ENCRYPTION_KEY ARGS...: with this check's settings
# only. It replaces the shell it runs in: call it in a subshell or with `&`.
run() {
  local program="$1" keys="$2"
  shift 2
  cd "$work"
  exec env -i PATH="$PATH" HOME="$work" PORT="$port" \
    DATABASE_URL="sqlite://$work/curatore.db" ENABLE_AUTH=true JWT_SECRET_KEY="$jwt" \
    SECRETS_ENCRYPTION_KEY="$keys" ADMIN_PASSWORD="an-admin-password-for-the-check" \
    OPENAI_API_KEY=sk-stub-key OPENAI_BASE_URL="http://127.0.0.1:$model_port/v1" OPENAI_MODEL=stub-1 \
    "$program" "$@"
}
start() {
  run "$bin" "$1" >>"$work/service.log" 2>&1 &
  service=$!
  pids+=("$service")
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "not ready after 20 s"
}
start "$old_key"

base="http://127.0.0.1:$port"
token="$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email_or_username":"admin","password":"an-admin-password-for-the-check"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')" || fail "login"
curl -fsS "$base/api/v1/auth/me" -H "authorization: Bearer $token" >/dev/null || fail "our /auth/me"
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
curl -fsS -X POST "$base/api/v1/connections" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"name\":\"Vectors\",\"connection_type\":\"vector_store\",\"is_default\":true,\"test_on_save\":false,
       \"config\":{\"url\":\"http://127.0.0.1:$model_port/store\",\"api_key\":\"vs-secret-1\"}}" >/dev/null \
  || fail "a vector_store connection"
new_key_for() {
  curl -fsS -X POST "$base/api/v1/api-keys" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"name\":\"$1\",\"scopes\":[\"$1\"]}" | json_field api_key
}
documents_key="$(new_key_for documents:write)" || fail "a documents:write key"
connections_key="$(new_key_for connections:read)" || fail "a connections:read key"

summarize() {
  curl -fsS -X POST "$base/documents/summarize" -H "x-api-key: $documents_key" \
    -H 'content-type: application/json' -d '{"text":"Curatore keeps tenants apart."}'
}
check_summary() {
  python3 - "$1" <<'PY' || fail "summary: $1"
import json, sys
a = json.loads(sys.argv[1])
assert a["summary"] == "A summary of: Curatore keeps tenants apart.", a
assert a["connection"] == "Default LLM", a
assert a["stored"] is True, a
PY
}
answer="$(summarize)" || fail "summarize with a documents:write key"
check_summary "$answer"

# The key does what it is scoped for and nothing else; another key cannot summarize.
status() { curl -s -o "$work/answer.json" -w '%{http_code}' "$@"; }
[ "$(status "$base/api/v1/organizations/me/users" -H "x-api-key: $documents_key")" = 403 ] \
  || fail "a documents:write key listed users"
[ "$(status -X POST "$base/documents/summarize" -H "x-api-key: $connections_key" \
  -H 'content-type: application/json' -d '{"text":"x"}')" = 403 ] || fail "a connections:read key summarized"
grep -q '"insufficient_scope"' "$work/answer.json" || fail "refusal: $(cat "$work/answer.json")"
[ "$(status -X POST "$base/documents/summarize" -H 'content-type: application/json' -d '{"text":"x"}')" = 401 ] \
  || fail "summarized without credentials"
grep -q '"authentication_required"' "$work/answer.json" || fail "refusal shape: $(cat "$work/answer.json")"

# The service's action is in our audit log, filtered like ours, with the key that did it.
curl -fsS "$base/api/v1/audit-logs?action=summarize_document" -H "authorization: Bearer $token" >"$work/audit.json" \
  || fail "audit log"
python3 - "$work/audit.json" <<'PY' || fail "audit: $(cat "$work/audit.json")"
import json, sys
items = json.load(open(sys.argv[1]))["items"]
assert len(items) == 1 and items[0]["action"] == "summarize_document", items
assert items[0]["details"]["api_key_id"] and items[0]["details"]["stored"] is True, items[0]
PY

# Rotate: the new key first, every sealed value re-sealed, then the old key dropped.
kill "$service"
wait "$service" 2>/dev/null || true
(run "$server" "$new_key,$old_key" secrets rotate) >>"$work/service.log" 2>&1 || fail "secrets rotate"
start "$new_key"
answer="$(summarize)" || fail "summarize after the rotation, with the old key dropped"
check_summary "$answer"

for secret in sk-stub-key vs-secret-1 "${documents_key}"; do
  grep -qF -- "$secret" "$work/service.log" && fail "a secret appears in the log"
done
echo "document-service: sqlite only; a documents:write key summarized through the default llm connection and the"
echo "  vector store, nothing else; summarize_document in our audit log; its secrets survived secrets rotate"
