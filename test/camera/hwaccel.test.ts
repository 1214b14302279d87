import { execFileSync } from "node:child_process";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Camera } from "../../agent/camera/camera.js";
import { inputOptions } from "../../agent/camera/ffmpeg.js";
import { chooseDecode, decodeFacts, parseDecoders, parseHwaccels, resolveDecode, type DecodeFacts } from "../../agent/camera/hwaccel.js";
import { planReload } from "../../agent/config/diff.js";
import { parseConfig } from "../../agent/config/load.js";
import { emptyClip } from "../support/clips.js";

// Listings as ffmpeg prints them: NVIDIA's ffmpeg for JetPack 6, a jetson-ffmpeg (nvmpi) build, a desktop build.
const JETSON_DECODERS = `Decoders:
 V..... = Video
 A..... = Audio
 ------
 V....D h264                 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10
 V..... h264_nvv4l2dec       h264 (nvv4l2dec) (codec h264)
 V..... hevc_nvv4l2dec       hevc (nvv4l2dec) (codec hevc)
 V..... mjpeg                MJPEG (Motion JPEG)
`;
const NVMPI_DECODERS = ` V..... h264_nvmpi           h264 (nvmpi) (codec h264)
 V..... hevc_nvmpi           hevc (nvmpi) (codec hevc)
`;
const DESKTOP_DECODERS = ` V....D h264                 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10
 V..... h264_cuvid           Nvidia CUVID H264 decoder (codec h264)
 V..... h264_v4l2m2m         V4L2 mem2mem H.264 decoder wrapper (codec h264)
`;
const HWACCELS = `Hardware acceleration methods:
vdpau
cuda
vaapi
`;

const facts = (o: Partial<DecodeFacts>): DecodeFacts => ({
  decoders: new Set(),
  hwaccels: new Set(),
  tegra: false,
  nvidiaGpu: false,
  renderNode: null,
  ...o,
});
const jetsonBox = facts({ decoders: parseDecoders(JETSON_DECODERS), tegra: true });

describe("parsing ffmpeg's listings", () => {
  it("reads decoder names and hwaccel methods, not the legend", () => {
    const d = parseDecoders(JETSON_DECODERS);
    expect([...d]).toEqual(["h264", "h264_nvv4l2dec", "hevc_nvv4l2dec", "mjpeg"]);
    expect([...parseHwaccels(HWACCELS)]).toEqual(["vdpau", "cuda", "vaapi"]);
  });
});

describe("chooseDecode", () => {
  it("jetson uses the NVDEC decoder for the stream's codec, from NVIDIA's ffmpeg or an nvmpi build", () => {
    expect(chooseDecode("jetson", jetsonBox, "h264")).toEqual({ used: "jetson", args: ["-c:v", "h264_nvv4l2dec"] });
    expect(chooseDecode("jetson", jetsonBox, "hevc").args).toEqual(["-c:v", "hevc_nvv4l2dec"]);
    expect(chooseDecode("jetson", facts({ decoders: parseDecoders(NVMPI_DECODERS), tegra: true }), "hevc").args).toEqual(["-c:v", "hevc_nvmpi"]);
  });

  it("falls back to software with a warning when the decoder or the hardware is missing", () => {
    const stock = chooseDecode("jetson", facts({ decoders: parseDecoders(DESKTOP_DECODERS), tegra: true }));
    expect(stock).toMatchObject({ used: "none", args: [], warning: expect.stringMatching(/no h264_nvv4l2dec or h264_nvmpi decoder.*software/) });
    expect(chooseDecode("jetson", jetsonBox, "mjpeg").warning).toMatch(/no mjpeg_nvv4l2dec/);
    expect(chooseDecode("jetson", facts({ decoders: parseDecoders(JETSON_DECODERS) })).warning).toMatch(/not a Jetson/);
    expect(chooseDecode("nvdec", facts({ hwaccels: parseHwaccels(HWACCELS) })).warning).toMatch(/nvidiactl/);
    expect(chooseDecode("nvdec", facts({ nvidiaGpu: true })).warning).toMatch(/without the cuda hwaccel/);
    expect(chooseDecode("vaapi", facts({ hwaccels: parseHwaccels(HWACCELS) })).warning).toMatch(/render node/);
  });

  it("nvdec and vaapi use ffmpeg's generic hwaccels, which decode any codec the GPU lacks in software", () => {
    expect(chooseDecode("nvdec", facts({ hwaccels: parseHwaccels(HWACCELS), nvidiaGpu: true })).args).toEqual(["-hwaccel", "cuda"]);
    expect(chooseDecode("vaapi", facts({ hwaccels: parseHwaccels(HWACCELS), renderNode: "/dev/dri/renderD129" })).args).toEqual([
      "-hwaccel",
      "vaapi",
      "-hwaccel_device",
      "/dev/dri/renderD129",
    ]);
  });

  it("auto picks by what exists: Jetson first, then an NVIDIA GPU, then VAAPI, else software without a warning", () => {
    const all = facts({
      decoders: parseDecoders(JETSON_DECODERS),
      hwaccels: parseHwaccels(HWACCELS),
      tegra: true,
      nvidiaGpu: true,
      renderNode: "/dev/dri/renderD128",
    });
    expect(chooseDecode("auto", all).used).toBe("jetson");
    expect(chooseDecode("auto", { ...all, tegra: false }).used).toBe("nvdec");
    expect(chooseDecode("auto", { ...all, tegra: false, nvidiaGpu: false }).used).toBe("vaapi");
    // A desktop ffmpeg lists cuda and the cuvid decoders whether or not a GPU is there: no device, no hwaccel.
    const none = chooseDecode("auto", facts({ decoders: parseDecoders(DESKTOP_DECODERS), hwaccels: parseHwaccels(HWACCELS) }));
    expect(none).toEqual({ used: "none", args: [] });
    expect(chooseDecode("none", all)).toEqual({ used: "none", args: [] });
  });

  it("the arguments go before -i, after -threads", () => {
    const args = inputOptions({
      source: "rtsp://cam/1",
      fps: 5,
      width: 64,
      height: 36,
      loop: false,
      realtime: true,
      rtspTransport: "tcp",
      timeoutSeconds: 5,
      threads: 2,
      decodeArgs: ["-c:v", "h264_nvv4l2dec"],
    });
    expect(args.slice(0, 6)).toEqual(["-hide_banner", "-nostdin", "-threads", "2", "-c:v", "h264_nvv4l2dec"]);
  });
});

// What this machine's ffmpeg and devices offer, for the tests that only mean something on one kind of box.
const here = await decodeFacts();
const jetsonHere = (await resolveDecode("jetson", "x.mp4")).used !== "none";
const cuvidWithoutGpu = here.decoders.has("h264_cuvid") && !here.nvidiaGpu;

describe("on this machine (real ffmpeg)", () => {
  const cameras: Camera[] = [];
  afterEach(async () => {
    await Promise.all(cameras.splice(0).map((c) => c.stop()));
  });

  /** A 64x36 file camera with these decode options, its log lines and a frame count; started by the test. */
  const fileCamera = (clip: string, decode: { hwaccel?: "jetson"; decodeArgs?: string[] }) => {
    const lines: Array<{ msg: string; hwaccel?: string; args?: string }> = [];
    const log = pino(new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) }));
    const seen = { frames: 0 };
    const cam = new Camera(
      {
        name: "hw",
        source: clip,
        fps: 5,
        width: 64,
        height: 36,
        loop: false,
        realtime: false,
        rtspTransport: "tcp",
        timeoutSeconds: 5,
        stallSeconds: 5,
        threads: 1,
        ...decode,
      },
      (f) => {
        seen.frames++;
        f.release();
      },
      () => {},
      log,
    );
    cameras.push(cam);
    return { cam, lines, seen };
  };
  const ended = async (cam: Camera) => {
    const end = Date.now() + 30_000;
    while (cam.current.state !== "ended" && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  };

  it("reads ffmpeg's real listing", async () => {
    const f = await decodeFacts();
    const real = parseDecoders(execFileSync("ffmpeg", ["-hide_banner", "-decoders"], { encoding: "utf8" }));
    expect(f.decoders.has("h264")).toBe(true);
    expect(f.decoders.size).toBe(real.size);
  });

  // On a Jetson the decoder is there: its fallback cannot be seen.
  it.skipIf(jetsonHere)("a camera asked for a decoder this box lacks warns once and still delivers frames in software", async () => {
    const clip = await emptyClip(2, 10);
    const { cam, lines, seen } = fileCamera(clip, { hwaccel: "jetson" });
    cam.start();
    await ended(cam);
    expect(cam.current.state).toBe("ended");
    expect(seen.frames).toBeGreaterThan(3);
    expect(lines.filter((l) => l.hwaccel === "jetson" && /unavailable.*software/.test(l.msg))).toHaveLength(1);
  });

  // Needs an ffmpeg with h264_cuvid and no usable NVIDIA GPU, where cuvid opens and then fails as a broken decoder would.
  it.skipIf(!cuvidWithoutGpu)("a hardware decoder that opens the source but gives no frame is dropped: the next start decodes in software", async () => {
    const clip = await emptyClip(2, 10);
    // h264_cuvid is in this ffmpeg and cannot open without libcuda: the failure a broken GPU decoder gives.
    const { cam, lines, seen } = fileCamera(clip, { decodeArgs: ["-c:v", "h264_cuvid"] });
    cam.start();
    await ended(cam);
    expect(cam.current.state).toBe("ended");
    expect(seen.frames).toBeGreaterThan(3);
    expect(lines.filter((l) => l.msg.startsWith("hardware decode gave no frame") && l.args === "-c:v h264_cuvid")).toHaveLength(1);
  });

  it("a camera that cannot be reached keeps its hardware decode for when it comes back", async () => {
    const lines: Array<{ msg: string }> = [];
    const log = pino(new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) }));
    const statuses: string[] = [];
    const cam = new Camera(
      {
        name: "down",
        source: "rtsp://127.0.0.1:9/none",
        fps: 5,
        width: 64,
        height: 36,
        loop: false,
        realtime: true,
        rtspTransport: "tcp",
        timeoutSeconds: 2,
        stallSeconds: 5,
        threads: 1,
        decodeArgs: ["-c:v", "h264_cuvid"],
      },
      (f) => f.release(),
      (st) => statuses.push(st.reason ?? ""),
      log,
    );
    cameras.push(cam);
    cam.start();
    const end = Date.now() + 20_000;
    while (cam.current.restarts < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(cam.current.restarts).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.msg.startsWith("hardware decode gave no frame"))).toBe(false);
    expect(
      inputOptions({
        source: "rtsp://x",
        fps: 5,
        width: 64,
        height: 36,
        loop: false,
        realtime: true,
        rtspTransport: "tcp",
        timeoutSeconds: 2,
        threads: 1,
        decodeArgs: (cam as unknown as { opts: { decodeArgs: string[] } }).opts.decodeArgs,
      }),
    ).toContain("h264_cuvid");
  });
});

describe("live reload of the GPU keys", () => {
  const text = (hwaccel: string, fp16: boolean) => `device: {id: d}
models: {m: {path: m.onnx}}
detector: {tensorrt: {fp16: ${fp16}}}
cameras:
  gate: {source: rtsp://cam/1, hwaccel: ${hwaccel}, detect: {model: m}}
  yard: {source: rtsp://cam/2, detect: {model: m}}
`;
  const cfg = (hwaccel: string, fp16: boolean) => parseConfig(text(hwaccel, fp16), "/etc/eva/eva.yaml", {});

  it("an edit of a camera's hwaccel restarts that camera only; a TensorRT option reloads the model", () => {
    const hw = planReload(cfg("auto", true), cfg("jetson", true));
    expect(hw.cameras.restarted).toEqual(["gate"]);
    expect(hw.models.load).toEqual([]);
    const trt = planReload(cfg("auto", true), cfg("auto", false));
    expect(trt.models.load).toEqual(["m"]);
  });
});

describe("codec probe", () => {
  it("keeps a camera password out of ffprobe's command line, and still reaches the camera", async () => {
    const { passwordCamera, CAMERA_PASSWORD } = await import("../support/password-camera.js");
    const { probeCodec } = await import("../../agent/camera/hwaccel.js");
    // ffprobe's argv is read while the authorised request is being answered, so the check cannot miss the process.
    const server = await passwordCamera("ffprobe");
    try {
      expect(await probeCodec(server.url, 20_000)).toBe("h264");
      expect(server.argvs.length).toBeGreaterThan(0);
      for (const argv of server.argvs) {
        expect(argv).toContain("ffprobe");
        expect(argv).not.toContain(CAMERA_PASSWORD);
      }
    } finally {
      server.close();
    }
  });
});
