#!/usr/bin/env bash
# e2e_promote_api.sh: POST /v1/promote on a real daemon with two real file:// stores (issue 11;
# docs/admin-api.md, docs/operations.md "Promoting a replica"):
#   - a publisher with a replica `dr` publishes v1 to both stores;
#   - an agent (`regsyncd run`, admin API with a token) configured with the same stores answers
#     401 without the token, 400 for a body without "store", 400 for a store that is not in its
#     configuration (and for a URL: the API promotes configured stores only), 405 for GET;
#   - POST {"store": "dr"} answers 200 with the store, epoch 1 and version 1; the replica's HEAD
#     (regsync-dump head) now says epoch 1 and the primary's still epoch 0;
#   - the fence holds: the old publisher, still pointed at the old primary, refuses to publish
#     (exit 1, "refusing to publish ... epoch").
# No server needed (file:// stores): a few seconds.
source "$(dirname "$0")/lib.bash" "$@"

export REGSYNC_ADMIN_TOKEN=e2e-token-$$-$RANDOM
primary=$(fresh_store file prim)
replica=$(fresh_store file repl)

step "publish v1 to a primary and a replica (file://)"
"$GEN" --seed 11 --projects 2 --out "$WORK/src.db" 2>/dev/null || fail "regsync-gen failed"
agent_yaml "$WORK/pub.yaml" region=pr-pub "source=file://$WORK/src.db" publish=true "state_dir=$WORK/pubstate" \
  'admin={ listen: "" }'
out=$(REGSYNC_REPLICAS="dr=$replica" rsd "$primary" publish --once --config "$WORK/pub.yaml" 2>"$WORK/pub.err") ||
  { show_log "$WORK/pub.err"; fail "publish v1 failed"; }
expect_eq "publish v1" "published version 1" "$out"
expect_eq "the replica's HEAD version" 1 "$("$DUMP" head "$replica" | jq -r .version)"

step "an agent with the admin API"
port=$(free_port)
mkdir -p "$WORK/a"
agent_yaml "$WORK/a.yaml" region=pr-a "target=file://$WORK/a/registry.db" "state_dir=$WORK/a/state" \
  poll_interval=200ms "admin={ listen: \"127.0.0.1:$port\" }"
e2e_bg agent env REGSYNC_STORE="$primary" REGSYNC_REPLICAS="dr=$replica" "$REGSYNCD" run --config "$WORK/a.yaml"
base=http://127.0.0.1:$port
wait_for 20 "the agent's /healthz" http_is 200 "$base/healthz"
post() { # post BODY [CURL ARGS...]: prints "CODE BODY"
  local body=$1; shift
  curl -s -m 10 -o "$WORK/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$body" "$@" \
    "$base/v1/promote"
  printf ' '
  cat "$WORK/resp"
}
auth=(-H "Authorization: Bearer $REGSYNC_ADMIN_TOKEN")

step "refusals"
r=$(post '{"store": "dr"}')
expect_eq "without the token" 401 "${r%% *}"
r=$(post '{"store": "dr"}' -H "Authorization: Bearer wrong")
expect_eq "with a wrong token" 401 "${r%% *}"
r=$(post '{}' "${auth[@]}")
expect_eq "without a store" 400 "${r%% *}"
r=$(post '{"store": "nowhere"}' "${auth[@]}")
expect_eq "an unknown store" 400 "${r%% *}"
grep -q 'nowhere' "$WORK/resp" || fail "the 400 does not name the store: $(cat "$WORK/resp")"
r=$(post "{\"store\": \"$replica\"}" "${auth[@]}")
expect_eq "a store URL" 400 "${r%% *}"
expect_eq "GET /v1/promote" 405 "$(http_code "$base/v1/promote")"
expect_eq "the replica's epoch after the refusals" 0 "$("$DUMP" head "$replica" | jq -r '.epoch // 0')"
say "401, 400, 405 as documented; nothing written"

step "promote dr through the API"
r=$(post '{"store": "dr"}' "${auth[@]}")
say "$r"
expect_eq "promote" 200 "${r%% *}"
body=${r#* }
expect_eq "answer's store" dr "$(jq -r .store <<<"$body")"
expect_eq "answer's epoch" 1 "$(jq -r .epoch <<<"$body")"
expect_eq "answer's version" 1 "$(jq -r .version <<<"$body")"
expect_eq "the replica's HEAD epoch" 1 "$("$DUMP" head "$replica" | jq -r .epoch)"
expect_eq "the old primary's HEAD epoch" 0 "$("$DUMP" head "$primary" | jq -r '.epoch // 0')"
"$DUMP" head "$replica" | jq -r .publisher | grep -q 'admin API' || fail "the promoted HEAD does not record the admin API"

step "the fence: the old publisher refuses"
"$GEN" mutate --seed 12 --changes 3 "$WORK/src.db" "$WORK/next.db" 2>/dev/null && mv -f "$WORK/next.db" "$WORK/src.db" ||
  fail "mutate failed"
REGSYNC_REPLICAS="dr=$replica" rsd "$primary" publish --once --config "$WORK/pub.yaml" >"$WORK/pub2.out" 2>"$WORK/pub2.err"
expect_eq "the old publisher's exit code" 1 "$?"
grep -q 'refusing to publish.*epoch' "$WORK/pub2.err" || { show_log "$WORK/pub2.err"; fail "no fence message"; }
say "old publisher refused: $(head -c 160 "$WORK/pub2.err")"
say "PASS"
