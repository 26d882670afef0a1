#!/usr/bin/env bash
# A three-node shoal cluster on this machine's loopback addresses:
# forms through one seed, takes a write through a follower, loses its leader
# to kill -9, elects a new one, and keeps every write.
#   scripts/demo.sh        bring it up and run the demo (leaves it running)
#   scripts/demo.sh down   stop it and remove its state
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${SHOAL_DEMO_DIR:-$PWD/.demo}
BIN=$PWD/bin/shoal

down() {
  if [ -d "$STATE" ]; then
    for pidf in "$STATE"/*.pid; do
      [ -e "$pidf" ] && kill -9 "$(cat "$pidf")" 2>/dev/null || true
    done
    rm -rf "$STATE"
  fi
}

if [ "${1:-}" = "down" ]; then down; echo "demo cluster removed"; exit 0; fi
if ! command -v curl >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing curl"; apt-get update -q && apt-get install -y -q curl
  else
    echo "the demo needs curl: sudo apt-get install -y curl"; exit 1
  fi
fi
[ -x "$BIN" ] || { echo "build first: make build"; exit 1; }
down
mkdir -p "$STATE"

start() { # name ip [flags...]
  local name=$1 ip=$2; shift 2
  "$BIN" agent --name "$name" --data-dir "$STATE/$name" --bind "$ip" "$@" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
  disown
}
wait_api() { for _ in $(seq 300); do curl -sfk "https://$1:7948/healthz" >/dev/null && return 0; sleep 0.1; done; echo "agent on $1 did not start; see $STATE"; exit 1; }
# curl with the admin credential that n1 wrote (the CLI reads it directly).
creds() {
  local conf=$STATE/n1/admin.conf
  for part in ca cert key; do
    sed -n "/^$part: |/,/^[a-z]*:/p" "$conf" | sed '1d;/^[a-z]*:/d;s/^  //' >"$STATE/admin.$part.pem"
  done
}
api() { curl -sf --cacert "$STATE/admin.ca.pem" --cert "$STATE/admin.cert.pem" --key "$STATE/admin.key.pem" "$@"; }

echo "==> starting n1 on 127.0.0.1 (bootstraps a new cluster)"
start n1 127.0.0.1; wait_api 127.0.0.1
for i in 2 3; do
  echo "==> starting n$i on 127.0.0.$i, joining through n1"
  start n$i 127.0.0.$i --join 127.0.0.1 --token-file "$STATE/n1/token"; wait_api 127.0.0.$i
done
export SHOAL_CONFIG=$STATE/n1/admin.conf
creds
echo "==> n1 created the cluster CA and wrote an admin credential to $SHOAL_CONFIG"
echo "==> waiting for three voters"
voters() { "$BIN" status 2>/dev/null | sed -n 's/^Voters: *//p' | tr ',' '\n' | grep -c .; }
for _ in $(seq 600); do [ "$(voters)" = 3 ] && break; sleep 0.1; done
"$BIN" members
echo
echo "==> writing a ConfigMap through follower-or-leader n2"
api -XPOST https://127.0.0.2:7948/api/v1/namespaces/default/configmaps \
  -d '{"metadata":{"name":"greeting"},"data":{"hello":"world"}}' >/dev/null && echo "written"
leader=$("$BIN" status -o json | sed -n 's/.*"name": "\(n[0-9]\)".*/\1/p' | head -1)
echo "==> kill -9 of the leader, $leader"
t0=$(date +%s.%N)
kill -9 "$(cat "$STATE/$leader.pid")"
survivor=127.0.0.2; [ "$leader" = n2 ] && survivor=127.0.0.3
until api -XPOST "https://$survivor:7948/api/v1/namespaces/default/configmaps" \
  -d '{"metadata":{"name":"after-failover"},"data":{"ok":"yes"}}' >/dev/null 2>&1; do sleep 0.02; done
t1=$(date +%s.%N)
printf "==> first write through a survivor succeeded %.2f s after the kill\n" "$(echo "$t1 - $t0" | bc -l 2>/dev/null || python3 -c "print($t1-$t0)")"
"$BIN" status --server "https://$survivor:7948"
echo
echo "==> both writes are on the survivors:"
api "https://$survivor:7948/api/v1/namespaces/default/configmaps" | grep -o '"name":"[a-z-]*"'
echo
echo "Look around:  SHOAL_CONFIG=$SHOAL_CONFIG $BIN members --server https://$survivor:7948"
echo "Logs:         $STATE/*.log"
echo "Restart $leader: $BIN agent --name $leader --data-dir $STATE/$leader --bind 127.0.0.${leader#n} &"
echo "Tear down:    scripts/demo.sh down"
