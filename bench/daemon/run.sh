#!/usr/bin/env bash
# herd's daemon against PM2 7.0.4 (bench/node), in the same run, on 127.0.0.1:
#   - start of 10 apps x 2 instances (cluster mode) until every port answers,
#     daemon launch included, ROUNDS rounds alternating herd and PM2, and the
#     floor: the same 20 node processes started by this shell, each on a port
#     of its own, no supervisor;
#   - `herd ls` vs `pm2 ls` with those 10 apps, CLI start to exit, LS runs alternating;
#   - each daemon's RSS (right after the ls runs, after IDLE seconds of
#     idleness, and after the reloads), and its CPU over those IDLE seconds;
#   - failed requests during RELOADS reloads of one app under keep-alive and
#     new-connection load (bench/daemon/load).
# Usage: bash bench/daemon/run.sh   (from the repository root; npm ci --prefix bench/node first)
set -euo pipefail
ROUNDS=${ROUNDS:-3} LS=${LS:-21} IDLE=${IDLE:-10} RELOADS=${RELOADS:-5}
root=$(pwd)
pm2="$root/bench/node/node_modules/.bin/pm2"
[ -x "$pm2" ] || { echo "no pm2: run npm ci --prefix bench/node" >&2; exit 1; }
work=$(mktemp -d)
export HERD_HOME="$work/herd" PM2_HOME="$work/pm2"
herd="$work/herd-bin"
go build -o "$herd" ./cmd/herd
go build -o "$work/load" ./bench/daemon/load
cleanup() { "$herd" kill >/dev/null 2>&1 || true; "$pm2" kill >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/app.js" <<'JS'
require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT));
JS
base=$((20000 + RANDOM % 20000))
{ echo "apps:"; for i in $(seq 0 9); do printf '  - name: a%d\n    command: [node, %s]\n    instances: 2\n    ports: [%d]\n    host: 127.0.0.1\n' $i "$work/app.js" $((base + i)); done; } > "$work/herd.yaml"
{ echo "module.exports = { apps: ["; for i in $(seq 0 9); do printf "{ name: 'p%d', script: '%s', instances: 2, exec_mode: 'cluster', env: { PORT: %d } },\n" $i "$work/app.js" $((base + 100 + i)); done; echo "] };"; } > "$work/ecosystem.config.js"
now() { date +%s%N; }
waitports() { # until each of the 10 ports from $1 answers
  for i in $(seq 0 9); do
    for _ in $(seq 1 3000); do curl -s -o /dev/null "http://127.0.0.1:$(($1 + i))/" && break; sleep 0.01; done
  done
}
waitports20() { # until each of the 20 ports from $1 answers: one curl per try, so
  # that 20 ports cost no more curl processes than 10 do above
  local args=() i
  for i in $(seq 0 19); do args+=(-o /dev/null "http://127.0.0.1:$(($1 + i))/"); done
  for _ in $(seq 1 3000); do curl -s --fail-early "${args[@]}" && break; sleep 0.01; done
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$work/start.herd"; : > "$work/start.pm2"; : > "$work/start.bare"
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now); "$herd" start "$work/herd.yaml" >/dev/null; waitports $base; t1=$(now)
  echo $(((t1 - t0) / 1000000)) >> "$work/start.herd"; "$herd" kill >/dev/null
  t0=$(now); "$pm2" start "$work/ecosystem.config.js" >/dev/null; waitports $((base + 100)); t1=$(now)
  echo $(((t1 - t0) / 1000000)) >> "$work/start.pm2"; "$pm2" kill >/dev/null
  t0=$(now); pids=""
  for i in $(seq 0 19); do PORT=$((base + 200 + i)) node "$work/app.js" & pids="$pids $!"; done
  waitports20 $((base + 200)); t1=$(now)
  echo $(((t1 - t0) / 1000000)) >> "$work/start.bare"; kill $pids || true; wait $pids 2>/dev/null || true
done
"$herd" start "$work/herd.yaml" >/dev/null; waitports $base
"$pm2" start "$work/ecosystem.config.js" >/dev/null; waitports $((base + 100))
: > "$work/ls.herd"; : > "$work/ls.pm2"
hpid=$(cat "$HERD_HOME/herd.pid"); ppid=$(cat "$PM2_HOME/pm2.pid")
rss() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
cpu() { awk '{print $14 + $15}' /proc/$1/stat; }
# Each daemon's RSS right after it served its last ls (herd trims a
# second after its last request: this is its RSS while it serves), and
# again at the end of the idle window.
for r in $(seq 1 "$LS"); do
  t0=$(now); "$herd" ls >/dev/null; t1=$(now); echo $(((t1 - t0) / 1000)) >> "$work/ls.herd"
  hr0=$(rss $hpid)
  t0=$(now); "$pm2" ls >/dev/null; t1=$(now); echo $(((t1 - t0) / 1000)) >> "$work/ls.pm2"
  pr0=$(rss $ppid)
done
h0=$(cpu $hpid); p0=$(cpu $ppid); sleep "$IDLE"; h1=$(cpu $hpid); p1=$(cpu $ppid)
hr1=$(rss $hpid); pr1=$(rss $ppid)
hz=$(getconf CLK_TCK)
underload() { # $1 port, then the reload command
  local port=$1; shift
  "$work/load" -addr "127.0.0.1:$port" > "$work/load.out" & local lp=$!
  sleep 0.5
  for _ in $(seq 1 "$RELOADS"); do "$@" >/dev/null; done
  sleep 0.5
  kill -INT $lp; wait $lp
  cat "$work/load.out"
}
rh=$(underload $base "$herd" reload a0)
rp=$(underload $((base + 100)) "$pm2" reload p0)
echo "uptime: $(uptime)"
sh=$(median < "$work/start.herd"); sp=$(median < "$work/start.pm2"); sb=$(median < "$work/start.bare")
echo "start 10 apps x 2 until all answer, ms (median of $ROUNDS): herd $sh  pm2 $sp  ratio $(awk "BEGIN {printf \"%.2f\", $sh / $sp}")  [herd: $(tr '\n' ' ' < "$work/start.herd")] [pm2: $(tr '\n' ' ' < "$work/start.pm2")]"
echo "floor, the same 20 node processes from this shell, ms (median of $ROUNDS): $sb  ratio to pm2 $(awk "BEGIN {printf \"%.2f\", $sb / $sp}")  [$(tr '\n' ' ' < "$work/start.bare")]  NODE_EXTRA_CA_CERTS $([ -n "${NODE_EXTRA_CA_CERTS:-}" ] && echo set || echo unset)"
lh=$(median < "$work/ls.herd"); lp=$(median < "$work/ls.pm2")
echo "ls with 10 apps, CLI start to exit, us (median of $LS): herd $lh  pm2 $lp  ratio $(awk "BEGIN {printf \"%.3f\", $lh / $lp}")"
echo "daemon RSS with 10 apps x 2, KiB: right after its last ls: herd $hr0  pm2 $pr0; after ${IDLE}s idle: herd $hr1  pm2 $pr1; after the reloads: herd $(rss $hpid)  pm2 $(rss $ppid)"
echo "$RELOADS reloads under load: herd $rh | pm2 $rp"
echo "daemon CPU over ${IDLE}s idle, % of a core: herd $(awk "BEGIN {printf \"%.2f\", 100 * ($h1 - $h0) / $hz / $IDLE}")  pm2 $(awk "BEGIN {printf \"%.2f\", 100 * ($p1 - $p0) / $hz / $IDLE}")"
