#!/usr/bin/env bash
# The many-cameras bench clip (docs/benchmarks.md, "Many cameras"): 40 s of 1280x720 25 fps H.264 with B-frames, a still
# scene (../shared/media/dog.jpg: a dog, a bicycle and a van YOLOX-Nano detects throughout, light sensor noise)
# and the person of ../shared/media/person.jpg walking across from 5 s to 15 s: the scene moves 25 % of the time.
#   scripts/bench/make-walk-clip.sh [OUT.mp4]     (default /tmp/walk720.mp4)
set -euo pipefail
media="$(dirname "$0")/../../../shared/media"
out=${1:-/tmp/walk720.mp4}
ffmpeg -hide_banner -loglevel error -y -loop 1 -i "$media/dog.jpg" -loop 1 -i "$media/person.jpg" -filter_complex \
  "[0]scale=1280:720,noise=alls=3:allf=t[bg];[1]crop=85:270:190:100,scale=-2:280[p];[bg][p]overlay=x='if(between(t,5,15),100+(t-5)*100,-1000)':y=380" \
  -t 40 -r 25 -c:v libx264 -preset veryfast -g 50 -bf 2 -pix_fmt yuv420p "$out"
echo "$out"
