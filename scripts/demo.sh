#!/usr/bin/env bash
# One command from a fresh clone to a running eva: ffmpeg if missing, npm packages, then `eva run` on
# config/traffic-signs.yaml (our sign detector and classifier on the shipped demo drive, scripts/demo/gtsdb-drive.mp4).
# When mosquitto is installed but no broker listens on localhost:1883, one is started for the demo and stopped
# with it, so events are seen flowing. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt-get as root; through sudo otherwise (Debian containers run as root and have no sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "demo: need root to install $*; run as root or install sudo" >&2; return 1; fi
}

if ! command -v ffmpeg >/dev/null; then
  echo "demo: installing ffmpeg"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg
fi
command -v node >/dev/null || { echo "demo: Node 20 or later is needed (https://nodejs.org or your distribution's nodejs)" >&2; exit 1; }

# onnxruntime-node's CUDA download (linux/x64) is skipped: see .npmrc
[ -d node_modules ] || ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
[ -f dist/agent/cli/main.js ] || npm run build

broker_pid=""
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true; }
trap cleanup EXIT
mosquitto_bin=$(command -v mosquitto || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true)
if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "demo: using the MQTT broker on localhost:1883"
elif [ -n "$mosquitto_bin" ]; then
  conf=$(mktemp --suffix=.conf)
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' >"$conf"
  [ "$(id -u)" -eq 0 ] && echo "user root" >>"$conf"
  "$mosquitto_bin" -c "$conf" >/dev/null 2>&1 &
  broker_pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
  echo "demo: started mosquitto on localhost:1883 for the demo (pid $broker_pid; it stops with the demo)"
else
  echo "demo: no MQTT broker here (apt-get install mosquitto mosquitto-clients to see events live); events wait in var/eva.db's outbox"
fi

if command -v mosquitto_sub >/dev/null; then
  echo "demo: watch events with: mosquitto_sub -v -t 'eva/demo/#'"
fi
echo "demo: list sightings with: npx eva signs --db var/eva.db"
echo "demo: the web console (live view, sightings, zone editor): http://127.0.0.1:9108/console/"
node dist/agent/cli/main.js run --config config/traffic-signs.yaml "$@"
