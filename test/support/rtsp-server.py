#!/usr/bin/python3
"""A camera's RTSP server for the tests: GStreamer's gst-rtsp-server serving pre-encoded H.264 clips.

Reads one JSON line on stdin (a password in argv would be in /proc/<pid>/cmdline): {port, user, password, auth: "basic"|"digest", mounts: {"/main": "clip.ts", ...}}.
Prints "ready <port>" once it listens, then "CONNECT" for every client connection and "<METHOD> <path>" for every
DESCRIBE and PLAY it accepted (after authentication). Every
session plays its clip from the start, paced in real time by the server's clock (as a camera delivers it).
"""

import json
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def say(line):
    print(line, flush=True)


def main():
    cfg = json.loads(sys.stdin.readline())
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(cfg["port"]))

    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "viewer")
    if cfg["auth"] == "digest":
        auth.add_digest(cfg["user"], cfg["password"], token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(cfg["user"], cfg["password"]), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    server.set_auth(auth)

    role = Gst.Structure.from_string("viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0]
    mounts = server.get_mount_points()
    for path, clip in cfg["mounts"].items():
        factory = GstRtspServer.RTSPMediaFactory()
        # config-interval=-1: SPS/PPS before every key frame, as IP cameras send them
        factory.set_launch(f"( filesrc location={clip} ! tsdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )")
        factory.set_shared(False)
        factory.add_role_from_structure(role)
        mounts.add_factory(path, factory)

    def on_client(_server, client):
        say("CONNECT")
        for method in ("describe", "play"):
            client.connect(f"{method}-request", lambda _c, ctx, m=method: say(f"{m.upper()} {ctx.uri.abspath}"))

    server.connect("client-connected", on_client)
    if server.attach(None) == 0:
        say("error: could not listen")
        sys.exit(1)
    say(f"ready {server.get_bound_port()}")
    GLib.MainLoop().run()


main()
