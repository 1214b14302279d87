// Hardware video decode per camera: `hwaccel: auto | jetson | nvdec | vaapi | none` → ffmpeg input arguments.
// A decoder this ffmpeg or this machine does not have falls back to software with a warning: a camera that
// decodes on the CPU is slower, a camera that does not start is an outage.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { HwaccelChoice } from "../config/gpu-schema.js";
import { ffmpegEnvironment, probeInput } from "./ffmpeg.js";

export type HwaccelUsed = "jetson" | "nvdec" | "vaapi" | "none";

export interface DecodeFacts {
  /** decoder names from `ffmpeg -decoders` (h264_nvv4l2dec, h264_cuvid, …) */
  decoders: ReadonlySet<string>;
  /** methods from `ffmpeg -hwaccels` (cuda, vaapi, …) */
  hwaccels: ReadonlySet<string>;
  /** a Jetson (L4T): /etc/nv_tegra_release or a tegra device tree */
  tegra: boolean;
  /** an NVIDIA GPU ffmpeg can open: /dev/nvidiactl, and `-init_hw_device cuda` works */
  nvidiaGpu: boolean;
  /** the first DRM render node on which ffmpeg can open VAAPI */
  renderNode: string | null;
}

export interface DecodeChoice {
  used: HwaccelUsed;
  /** ffmpeg input options, placed before -i */
  args: string[];
  /** why the configured decoder is not used; absent when it is (or none was asked for) */
  warning?: string;
}

/** Names from `ffmpeg -hide_banner -decoders`: lines like ` V..... h264_nvv4l2dec   NVIDIA … (codec h264)`. */
export function parseDecoders(listing: string): Set<string> {
  const names = new Set<string>();
  for (const line of listing.split("\n")) {
    const m = /^\s*[VAS][.A-Z]{5}\s+(\S+)/.exec(line);
    if (m && m[1] !== "=") names.add(m[1]!);
  }
  return names;
}

/** Methods from `ffmpeg -hide_banner -hwaccels`: one per line after the heading. */
export function parseHwaccels(listing: string): Set<string> {
  return new Set(
    listing
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !/:$/.test(l)),
  );
}

// NVIDIA's ffmpeg for Jetson names its NVDEC decoders *_nvv4l2dec; the jetson-ffmpeg patch (Frigate's image)
// names them *_nvmpi. Either does.
const JETSON_SUFFIXES = ["_nvv4l2dec", "_nvmpi"];

function jetsonDecoder(facts: DecodeFacts, codec: string): string | undefined {
  return JETSON_SUFFIXES.map((s) => `${codec}${s}`).find((d) => facts.decoders.has(d));
}

/**
 * The decode arguments for one camera. `codec` is the stream's (h264, hevc, …): Jetson decoders are per codec,
 * while `-hwaccel cuda` and `-hwaccel vaapi` pick up any codec the GPU has and decode the rest in software.
 */
export function chooseDecode(choice: HwaccelChoice, facts: DecodeFacts, codec = "h264"): DecodeChoice {
  const jetson = (): DecodeChoice | string => {
    if (!facts.tegra) return "not a Jetson (no /etc/nv_tegra_release)";
    const d = jetsonDecoder(facts, codec);
    return d
      ? { used: "jetson", args: ["-c:v", d] }
      : `this ffmpeg has no ${codec}_nvv4l2dec or ${codec}_nvmpi decoder (install NVIDIA's ffmpeg for Jetson, see README)`;
  };
  const nvdec = (): DecodeChoice | string => {
    if (!facts.hwaccels.has("cuda")) return "this ffmpeg was built without the cuda hwaccel";
    if (!facts.nvidiaGpu) return "no CUDA device ffmpeg can open (/dev/nvidiactl, libcuda.so.1)";
    return { used: "nvdec", args: ["-hwaccel", "cuda"] };
  };
  const vaapi = (): DecodeChoice | string => {
    if (!facts.hwaccels.has("vaapi")) return "this ffmpeg was built without vaapi";
    if (!facts.renderNode) return "no DRM render node with a working VAAPI driver (/dev/dri/renderD*)";
    return { used: "vaapi", args: ["-hwaccel", "vaapi", "-hwaccel_device", facts.renderNode] };
  };
  const software: DecodeChoice = { used: "none", args: [] };
  if (choice === "none") return software;
  if (choice === "auto") {
    for (const attempt of [jetson, nvdec, vaapi]) {
      const r = attempt();
      if (typeof r !== "string") return r;
    }
    return software;
  }
  const r = { jetson, nvdec, vaapi }[choice]();
  return typeof r === "string" ? { ...software, warning: `hwaccel ${choice} unavailable: ${r}; decoding in software` } : r;
}

// --- What this machine has: asked once per process (ffmpeg's build does not change while eva runs).

const ffmpegPath = () => process.env.FFMPEG_PATH ?? "ffmpeg";

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, env: ffmpegEnvironment() }, (err, stdout) => resolve(err ? "" : String(stdout)));
  });
}

function isTegra(): boolean {
  if (existsSync("/etc/nv_tegra_release")) return true;
  try {
    return /nvidia,tegra/.test(readFileSync("/proc/device-tree/compatible", "latin1"));
  } catch {
    return false;
  }
}

function firstRenderNode(): string | null {
  try {
    const n = readdirSync("/dev/dri")
      .filter((f) => /^renderD\d+$/.test(f))
      .sort()[0];
    return n ? `/dev/dri/${n}` : null;
  } catch {
    return null;
  }
}

/** Whether ffmpeg can open a hardware device: a render node without a VA driver, or a GPU without libcuda, fails. */
function deviceOpens(spec: string): Promise<boolean> {
  return new Promise((resolve) => {
    const args = ["-hide_banner", "-loglevel", "error", "-init_hw_device", spec, "-f", "lavfi", "-i", "nullsrc=s=64x64", "-frames:v", "1", "-f", "null", "-"];
    execFile(ffmpegPath(), args, { timeout: 10_000, env: ffmpegEnvironment() }, (err) => resolve(!err));
  });
}

let facts: Promise<DecodeFacts> | null = null;

export function decodeFacts(): Promise<DecodeFacts> {
  facts ??= (async () => {
    const [dec, hw] = await Promise.all([run(ffmpegPath(), ["-hide_banner", "-decoders"]), run(ffmpegPath(), ["-hide_banner", "-hwaccels"])]);
    const hwaccels = parseHwaccels(hw);
    const node = firstRenderNode();
    const [cuda, vaapi] = await Promise.all([
      hwaccels.has("cuda") && existsSync("/dev/nvidiactl") ? deviceOpens("cuda=eva:0") : false,
      hwaccels.has("vaapi") && node ? deviceOpens(`vaapi=eva:${node}`) : false,
    ]);
    return { decoders: parseDecoders(dec), hwaccels, tegra: isTegra(), nvidiaGpu: cuda, renderNode: vaapi ? node : null };
  })();
  return facts;
}

/** The stream's video codec by ffprobe (only asked where the decoder depends on it); h264 when it cannot tell. */
export async function probeCodec(source: string, timeoutMs = 15_000, rtspTransport: "tcp" | "udp" = "tcp"): Promise<string> {
  const ffprobe = process.env.FFPROBE_PATH ?? "ffprobe";
  const input = probeInput(source, rtspTransport, timeoutMs / 1000);
  try {
    const out = await run(ffprobe, ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0", ...input.args], timeoutMs);
    return out.trim().split("\n")[0] || "h264";
  } finally {
    input.remove();
  }
}

/** Resolves a camera's `hwaccel` to ffmpeg arguments on this machine. */
export async function resolveDecode(choice: HwaccelChoice, source: string): Promise<DecodeChoice> {
  if (choice === "none") return { used: "none", args: [] };
  const f = await decodeFacts();
  const jetsonPossible = f.tegra && [...f.decoders].some((d) => JETSON_SUFFIXES.some((s) => d.endsWith(s)));
  const codec = (choice === "jetson" || choice === "auto") && jetsonPossible ? await probeCodec(source) : "h264";
  return chooseDecode(choice, f, codec);
}
