#!/usr/bin/env bash
# Runs the example as its user would: the document service on a fresh SQLite
# database with the OPENAI_* variables pointing at a stub model on loopback;
# signs in with our API, summarizes a document through the service's own
# route (our authentication, the organization's default `llm` connection
# with its secret opened), and checks that our routes answer beside it and
# that its route refuses callers without credentials in our error shape.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cargo build --quiet --locked -p document-service --manifest-path "$root/Cargo.toml"
bin="$root/target/debug/document-service"
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
(cd "$work" && exec env -i PATH="$PATH" HOME="$work" PORT="$port" \
  DATABASE_URL="sqlite://$work/curatore.db" ENABLE_AUTH=true \
  JWT_SECRET_KEY="document-service-check-$(python3 -c 'import secrets; print(secrets.token_hex(24))')" \
  ADMIN_PASSWORD="an-admin-password-for-the-check" \
  OPENAI_API_KEY=sk-stub-key OPENAI_BASE_URL="http://127.0.0.1:$model_port/v1" OPENAI_MODEL=stub-1 \
  "$bin" >"$work/service.log" 2>&1) &
pids+=($!)
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || fail "not ready after 20 s"

base="http://127.0.0.1:$port"
token="$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email_or_username":"admin","password":"an-admin-password-for-the-check"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')" || fail "login"
curl -fsS "$base/api/v1/auth/me" -H "authorization: Bearer $token" >/dev/null || fail "our /auth/me"
answer="$(curl -fsS -X POST "$base/documents/summarize" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"text":"Curatore keeps tenants apart."}')" || fail "summarize"
python3 - "$answer" <<'PY' || fail "summary: $answer"
import json, sys
a = json.loads(sys.argv[1])
assert a["summary"] == "A summary of: Curatore keeps tenants apart.", a
assert a["connection"] == "Default LLM", a
PY
status="$(curl -s -o "$work/refused.json" -w '%{http_code}' -X POST "$base/documents/summarize" \
  -H 'content-type: application/json' -d '{"text":"x"}')"
[ "$status" = 401 ] || fail "without credentials: $status"
grep -q '"authentication_required"' "$work/refused.json" || fail "refusal shape: $(cat "$work/refused.json")"
grep -q 'sk-stub-key' "$work/service.log" && fail "the model's key appears in the log"
echo "document-service: summarized through the default llm connection; our API beside it; refusals in our shape"
