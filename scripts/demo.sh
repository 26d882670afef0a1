#!/usr/bin/env bash
# make demo: three hosts on this machine (network namespaces, each with its
# own containerd and shoal agent), a web app behind a Service, reached by
# name from a pod on another host; then a power cut on a host that runs a
# replica, and the replica replaced and DNS updated, with timings.
#   scripts/demo.sh        install what is missing, bring it up, run the demo
#   scripts/demo.sh down   remove everything it made
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${SHOAL_DEMO_DIR:-/var/lib/shoal-demo}
BIN=$PWD/bin/shoal

if [ "${1:-}" = down ]; then exec "$BIN" dev down --dir "$DIR"; fi
if [ "$(id -u)" != 0 ]; then
  echo "the demo makes network namespaces and runs containerd: run it as root (sudo make demo)"; exit 1
fi
missing=()
for p in containerd runc containernetworking-plugins iptables iproute2 util-linux busybox-static; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  apt-get update -q && apt-get install -y -q "${missing[@]}"
fi
[ -x "$BIN" ] || { echo "build first: make build"; exit 1; }

now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.1f}')" 2>/dev/null || echo "?"; }

echo "==> three hosts, each with its own containerd and agent, joined into one cluster"
"$BIN" dev up --nodes 3 --dir "$DIR" | grep -v '^  \|^$' || true
export SHOAL_SERVER=https://10.77.0.1:7948 SHOAL_CONFIG=$DIR/admin.conf
"$BIN" get nodes

echo; echo "==> deploying the web app (2 replicas, kept off n1), its Service, and a client pod on n1"
"$BIN" apply -f examples/demo-web.yaml
"$BIN" rollout status deployment/web --timeout 120s
until "$BIN" get pod client 2>/dev/null | grep -q Running; do sleep 0.2; done
"$BIN" get pods -o wide

echo; echo "==> from the client on n1, http://web:8080 by its short name (service DNS on n1's bridge); every answer comes from another host:"
for _ in 1 2 3 4; do
  printf '    answered by %s\n' "$("$BIN" exec client -- wget -q -O- http://web:8080/)"
done

victim=$("$BIN" get pods -l app=web -o wide | awk 'NR>1 && $6!="n1" {print $6; exit}')
deadpod=$("$BIN" get pods -l app=web -o wide | awk -v n="$victim" 'NR>1 && $6==n {print $1; exit}')
deadip=$("$BIN" get pods -l app=web -o wide | awk -v n="$victim" 'NR>1 && $6==n {print $5; exit}')
echo; echo "==> power cut on $victim (agent, containerd and pods killed at once); it ran $deadpod at $deadip"
t0=$(now)
"$BIN" dev kill "$victim" --dir "$DIR"
dns=""; ready=""
while [ -z "$dns" ] || [ -z "$ready" ]; do
  # nslookup exits 1 when a search domain gives NXDOMAIN: read its output.
  answer=$("$BIN" exec client -- nslookup -type=a web 2>/dev/null || true)
  if [ -z "$dns" ] && echo "$answer" | grep -q "^Address: " && ! echo "$answer" | grep -q "^Address: $deadip\$"; then
    dns=$(since "$t0"); echo "    ${dns}s: DNS no longer answers with $deadip"
  fi
  if [ -z "$ready" ] && [ "$("$BIN" get pods -l app=web -o wide | awk -v n="$victim" 'NR>1 && $2=="1/1" && $6!=n' | wc -l)" = 2 ]; then
    ready=$(since "$t0"); echo "    ${ready}s: 2 replicas Ready again, none on $victim"
  fi
  sleep 0.2
done
"$BIN" get pods -o wide
echo; echo "==> and the client still reaches the app by name:"
printf '    answered by %s\n' "$("$BIN" exec client -- wget -q -O- http://web:8080/)"

cat <<MSG

Look around:
  export SHOAL_SERVER=$SHOAL_SERVER SHOAL_CONFIG=$SHOAL_CONFIG
  $BIN get pods -o wide; $BIN get nodes; $BIN describe deployment web
  $BIN logs client; $BIN exec client -- nslookup web
  $BIN dev start $victim --dir $DIR        # bring the host back
  $BIN dev partition n2 --dir $DIR         # or break something else; $BIN dev heal --dir $DIR
Tear down:
  scripts/demo.sh down
MSG
