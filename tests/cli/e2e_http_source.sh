#!/usr/bin/env bash
# e2e_http_source.sh: a publisher whose source is an http:// URL (issue 9, item 9).
#
# docs/configuration.md lists http(s) among the source schemes and `check-config` accepted it,
# but `publish` refused the scheme. regsync now reads such a source for real, with a conditional
# GET. The test serves registry files from a small HTTP server written here (python3): ETag on
# every answer, 304 to a matching If-None-Match, and, in its "no-etag" mode, Last-Modified only
# with 304 to If-Modified-Since; every request is logged with the validator it carried. Checked:
#   - check-config accepts the configuration and publish --once publishes version 1 from the URL;
#   - publish --once of the same file: "unchanged at version 1";
#   - a publisher daemon (`run`, poll 200 ms) polls with If-None-Match and gets 304s while the file
#     stays, then publishes version 2 by itself when the file changes (digest checked);
#   - without ETag, the polls carry If-Modified-Since and get 304s;
#   - 404 and a server that answers 503: publish --once exits 1 with a message naming the URL
#     without its query string, and the query's signature never shows in output or logs.
# file:// store only: the source is read the same way whatever the store is.
source "$(dirname "$0")/lib.bash" "$@"

store=$(fresh_store file httpsrc)
mkdir -p "$WORK/www"
"$GEN" --seed 41 --projects 2 --out "$WORK/www/registry.db" 2>/dev/null || fail "regsync-gen failed"

# ---- the HTTP server: MODE file holds "etag", "no-etag", "404" or "503"
HTTP_PY='
import hashlib, http.server, os, sys, email.utils
root, modef, logf = sys.argv[1], sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        mode = open(modef).read().split()[0]
        inm = self.headers.get("If-None-Match") or "-"
        ims = self.headers.get("If-Modified-Since") or "-"
        path = os.path.join(root, self.path.split("?")[0].lstrip("/"))
        code, body, hdrs = 200, b"", {}
        if mode in ("404", "503") or not os.path.isfile(path):
            code = 503 if mode == "503" else 404
        else:
            body = open(path, "rb").read()
            if mode == "etag":
                tag = "\"%s\"" % hashlib.sha256(body).hexdigest()[:32]
                hdrs["ETag"] = tag
                if inm == tag: code = 304
            else:
                lm = email.utils.formatdate(os.stat(path).st_mtime, usegmt=True)
                hdrs["Last-Modified"] = lm
                if ims != "-" and email.utils.parsedate_to_datetime(ims) >= email.utils.parsedate_to_datetime(lm): code = 304
        if code != 200: body = b"" if code == 304 else b"no\n"
        self.send_response(code)
        for k, v in hdrs.items(): self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(logf, "a") as f: f.write("%s %s inm=%s ims=%s -> %d\n" % (mode, self.path.split("?")[0], inm, ims.replace(" ", "_"), code))
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("listening %d" % s.server_address[1], flush=True)
s.serve_forever()
'
echo etag >"$WORK/mode"
: >"$WORK/requests.log"
e2e_bg http "$PY" -u -c "$HTTP_PY" "$WORK/www" "$WORK/mode" "$WORK/requests.log"
wait_for 10 "the HTTP server to listen" grep -q '^listening ' "$WORK/http.log"
HPORT=$(sed -n 's/^listening //p' "$WORK/http.log" | head -n 1)
SIG=e2e-signature-$$-$RANDOM
URL="http://127.0.0.1:$HPORT/registry.db?X-Amz-Signature=$SIG"
# the URL carries a signature: it comes from the environment (REGSYNC_SOURCE), never the file
agent_yaml "$WORK/pub.yaml" region=http-pub publish=true "state_dir=$WORK/pubstate" publisher_id=http-pub \
  poll_interval=200ms 'admin={ listen: "" }'
pub() { REGSYNC_SOURCE=$URL rsd "$store" "$@"; }
requests() { grep -c -- "$1" "$WORK/requests.log" || true; }

step "check-config and the first publish"
pub check-config --config "$WORK/pub.yaml" >"$WORK/check.out" 2>&1 || { cat "$WORK/check.out"; fail "check-config refused an http source"; }
out=$(pub publish --once --config "$WORK/pub.yaml" 2>"$WORK/publish1.err") || { show_log "$WORK/publish1.err"; fail "publish --once from an http source failed"; }
expect_eq "publish --once from $URL" "published version 1" "$out"
expect_eq "HEAD's content digest is the served file's" "$(content_digest "$WORK/www/registry.db")" "$(store_head_line "$store" | awk '{ print $2 }')"
out=$(pub publish --once --config "$WORK/pub.yaml" 2>"$WORK/publish2.err") || { show_log "$WORK/publish2.err"; fail "second publish --once failed"; }
expect_eq "publish --once of the same file" "unchanged at version 1" "$out"

step "a publisher daemon polls with If-None-Match (304) and publishes a change by itself"
e2e_bg publisher env REGSYNC_SOURCE="$URL" REGSYNC_STORE="$store" "$REGSYNCD" run --config "$WORK/pub.yaml"
has_304() { (($(requests "etag /registry.db inm=\".*-> 304") >= $1)); }
wait_for 20 "three polls answered 304 Not Modified" has_304 3
"$GEN" mutate --seed 42 --changes 4 "$WORK/www/registry.db" "$WORK/www/next.db" 2>/dev/null || fail "mutate failed"
mv -f "$WORK/www/next.db" "$WORK/www/registry.db"
head_is() { [[ $(store_head_line "$store" | awk '{ print $1 }') == "$1" ]]; }
wait_for 20 "the daemon to publish version 2" head_is 2
expect_eq "version 2's content digest is the changed file's" "$(content_digest "$WORK/www/registry.db")" "$(store_head_line "$store" | awk '{ print $2 }')"
say "$(requests ' -> 304') polls answered 304, $(requests ' -> 200') full reads"

step "without an ETag: If-Modified-Since"
echo no-etag >"$WORK/mode"
has_ims_304() { (($(requests "no-etag /registry.db inm=- ims=[^-].*-> 304") >= $1)); }
wait_for 20 "two polls with If-Modified-Since answered 304" has_ims_304 2
stop_pid "$E2E_LAST_PID"
expect_eq "HEAD after the polls" 2 "$(store_head_line "$store" | awk '{ print $1 }')"

step "errors name the URL without its query"
echo 404 >"$WORK/mode"
pub publish --once --config "$WORK/pub.yaml" >"$WORK/p404.out" 2>"$WORK/p404.err" && fail "publish --once succeeded on a 404"
grep -q "http://127.0.0.1:$HPORT/registry.db?\.\.\..*HTTP 404" "$WORK/p404.err" || { cat "$WORK/p404.err"; fail "the 404 error does not name the URL and the status"; }
echo 503 >"$WORK/mode"
pub publish --once --config "$WORK/pub.yaml" >"$WORK/p503.out" 2>"$WORK/p503.err" && fail "publish --once succeeded on a 503"
grep -q "HTTP 503" "$WORK/p503.err" || { cat "$WORK/p503.err"; fail "the 503 error does not say HTTP 503"; }
say "503: $(requests '^503 ') requests (retried), then: $(tail -n 1 "$WORK/p503.err")"
(($(requests '^503 ') >= 2)) || fail "a 503 was not retried"
grep -rq -- "$SIG" "$WORK"/*.log "$WORK"/*.err "$WORK"/*.out && fail "the URL's signature appears in a log or an output"
say "PASS"
