#!/usr/bin/env bash
# One command from a fresh clone to a running eva: system packages, npm packages, the demo clip, then
# `eva run` on config/traffic-signs.yaml (our own traffic-sign model on a rendered drive). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=()
command -v ffmpeg >/dev/null || pkgs+=(ffmpeg)
/usr/bin/python3 -c "import cv2, numpy, PIL" 2>/dev/null || pkgs+=(python3-opencv python3-numpy python3-pil)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || pkgs+=(fonts-dejavu-core)
if [ ${#pkgs[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "demo: installing ${pkgs[*]}"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
fi
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  echo "demo: no MQTT broker here (apt-get install mosquitto to see events live); events wait in var/eva.db's outbox"
fi

[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/agent/cli/main.js ] || npm run build
[ -f var/demo/traffic-signs.mp4 ] || /usr/bin/python3 scripts/make-demo-clip.py --out var/demo/traffic-signs.mp4
echo "demo: watch events with: mosquitto_sub -v -t 'eva/demo/#'   list them with: npx eva events --db var/eva.db"
exec node dist/agent/cli/main.js run --config config/traffic-signs.yaml "$@"
