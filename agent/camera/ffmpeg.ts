import ffmpeg from "fluent-ffmpeg";
import { execFile, execFileSync, spawn } from "node:child_process";
import { chmodSync, closeSync, constants, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Socket, type SocketConstructorOpts } from "node:net";
import type { Readable } from "node:stream";
import type { PixelFormat } from "./frame.js";
import { slotBytes } from "./frame-pool.js";

// Every detail of how eva drives ffmpeg lives in this file: fluent-ffmpeg was archived upstream in May 2025,
// so replacing it with a bare spawn must stay a one-file change.

export type SourceKind = "rtsp" | "http" | "v4l2" | "file";

export function sourceKind(source: string): SourceKind {
  if (/^rtsps?:\/\//i.test(source)) return "rtsp";
  if (/^https?:\/\//i.test(source)) return "http";
  if (/^\/dev\/video\d+$/.test(source)) return "v4l2";
  return "file";
}

export interface FrameSourceOptions {
  source: string;
  fps: number;
  width: number;
  height: number;
  /** file sources: start again at the end */
  loop: boolean;
  /** file sources: read at the clip's own speed, as a live camera would deliver it */
  realtime: boolean;
  rtspTransport: "tcp" | "udp";
  /** socket timeout for network sources */
  timeoutSeconds: number;
  /** decoder threads; a few per camera keep a 6–15 W device from drowning in ffmpeg threads */
  threads: number;
  /**
   * a second picture for the detector, already at the model's content size, stacked under each frame in the
   * same output (one decode, one pipe): the detector converts it and resizes nothing. Its width must not exceed
   * the frame's; its rows are padded to the frame's width.
   */
  scaled?: { width: number; height: number } | undefined;
  /**
   * how each frame is written: packed RGB24 (default), or planar YUV 4:2:0 — half the bytes and no colour
   * conversion in ffmpeg; the decoder's own format, from which motion and brightness read the Y plane directly
   * (even sizes only)
   */
  pixelFormat?: PixelFormat | undefined;
  /**
   * frames the decoder may skip before decoding them: "noref" drops frames no other frame refers to (free
   * at low fps on streams with B-frames; most IP cameras send none), "nokey" decodes key frames only (about
   * one per GOP: for fps at or below the camera's key-frame rate)
   */
  skipFrame?: "none" | "noref" | "nokey" | undefined;
  /** hardware decode input options from hwaccel.ts (`-c:v h264_nvv4l2dec`, `-hwaccel cuda`); none: software */
  decodeArgs?: readonly string[];
}

export interface FrameSourceProcess {
  /** the frames' stream: its bytes go to FrameSourceEvents.into(); pause() and resume() hold and restart reading */
  stdout: Readable;
  kill(): void;
}

export interface FrameSourceEvents {
  /** where ffmpeg's next bytes are read to: the rest of the frame being filled (never empty) */
  into(): Uint8Array;
  /** n bytes were read into what into() last gave */
  onBytes(n: number): void;
  onStderr(line: string): void;
  /** called once: error is null when ffmpeg ended cleanly (end of a file) */
  onExit(error: Error | null): void;
}

/**
 * How long ffmpeg studies a live stream before the first frame. Its defaults (5 s of MPEG-TS, 20 frames for the
 * frame rate) are wall-clock seconds on a live source, spent again at every reconnect: half a second finds a
 * camera's H.264/H.265 stream (RTSP carries its parameters in the SDP, MPEG-TS repeats them), the frame rate
 * is not needed (the fps filter works from timestamps), and a parameter found late is taken from the stream.
 */
const LIVE_PROBE = ["-analyzeduration", "500000", "-fpsprobesize", "0"];

export function inputOptions(o: FrameSourceOptions): string[] {
  const timeoutUs = String(Math.round(o.timeoutSeconds * 1e6));
  // -threads applies to the decoder only when it comes before -i.
  const opts = ["-hide_banner", "-nostdin", "-threads", String(o.threads), ...(o.decodeArgs ?? [])];
  // Like -threads, -skip_frame is a decoder option: before -i.
  if (o.skipFrame && o.skipFrame !== "none") opts.push("-skip_frame", o.skipFrame);
  switch (sourceKind(o.source)) {
    case "rtsp":
      // ffmpeg ≥ 5 spells the RTSP socket timeout -timeout (µs); -stimeout is gone.
      opts.push("-rtsp_transport", o.rtspTransport, "-timeout", timeoutUs, ...LIVE_PROBE);
      break;
    case "http":
      // One immediate reconnect bridges a dropped connection to a camera still there; a longer inner retry loop
      // (delays 1, 2, 4 s) kept a gone camera "online" for 4–7 s, and when it reached a restarted camera, whose
      // timestamps start over, the fps filter dropped its frames for seconds. eva's own restart does better.
      opts.push("-rw_timeout", timeoutUs, "-reconnect", "1", "-reconnect_streamed", "1", "-reconnect_delay_max", "0", ...LIVE_PROBE);
      break;
    case "v4l2":
      opts.push("-f", "v4l2");
      break;
    case "file":
      if (o.loop) opts.push("-stream_loop", "-1");
      if (o.realtime) opts.push("-re");
      break;
  }
  return opts;
}

export function outputOptions(o: FrameSourceOptions): string[] {
  // -filter_threads: swscale and the graph would start a thread per core for every camera; one keeps eight
  // cameras from running ~100 threads on a 2-core box (scaling 720p to a few hundred pixels is cheap).
  return ["-an", "-sn", "-dn", "-filter_threads", "1", "-vf", videoFilter(o), "-pix_fmt", o.pixelFormat ?? "rgb24", "-f", "rawvideo"];
}

/** Output bytes per frame: the frame, plus the detector's picture under it (rows at the frame's width). */
export function outputFrameBytes(o: Pick<FrameSourceOptions, "width" | "height" | "scaled" | "pixelFormat">): number {
  return slotBytes(o.width, o.height, o.scaled, o.pixelFormat ?? "rgb24");
}

export function videoFilter(o: Pick<FrameSourceOptions, "fps" | "width" | "height" | "scaled">): string {
  // fps before scale: frames that will be dropped are never scaled.
  const frame = `scale=${o.width}:${o.height}:flags=bilinear`;
  if (!o.scaled) return `fps=${o.fps},${frame}`;
  const { width, height } = o.scaled;
  if (width > o.width) throw new Error(`scaled picture ${width}×${height} is wider than the ${o.width}×${o.height} frame`);
  // The detector's picture scales from the detect-size frame, not from the decoded one: a second full-size
  // scale of 720p costs ffmpeg ~3 ms a frame, this one a fraction (and the detector saw the same pixels when
  // the worker resized the frame itself). vstack needs equal widths, hence the pad (its bytes are never read).
  return `fps=${o.fps},${frame},split[f][m];[m]scale=${width}:${height}:flags=bilinear,pad=${o.width}:${height}:0:0[m1];[f][m1]vstack`;
}

/**
 * Starts ffmpeg decoding `source` into raw RGB24 frames. Its stdout is a FIFO whose read end is a socket with a
 * user buffer: each read lands straight in the frame slot `events.into()` names (no chunk Buffers to allocate,
 * copy and collect), which at ~1 MB a frame is most of what the main thread spent on a frame.
 */
export function startFrameSource(o: FrameSourceOptions, events: FrameSourceEvents): FrameSourceProcess {
  let exited = false;
  const finish = (err: Error | null) => {
    if (exited) return;
    exited = true;
    input?.remove();
    events.onExit(err);
  };
  const input = privateInput(o);
  const args = [...(input?.options ?? inputOptions(o)), "-nostats", "-i", input?.file ?? o.source, ...outputOptions(o), "pipe:1"];
  const fifo = openFifo();
  const child = spawn(process.env.FFMPEG_PATH ?? "ffmpeg", args, { stdio: ["ignore", fifo?.write ?? "pipe", "pipe"], env: ffmpegEnvironment() });
  if (fifo) closeSync(fifo.write);
  // onread (Node ≥ 12) is missing from @types/node's SocketConstructorOpts
  const socketOptions = { fd: fifo?.read, readable: true, writable: false, onread: { buffer: events.into, callback: events.onBytes } };
  const stdout = fifo ? new Socket(socketOptions as SocketConstructorOpts) : child.stdout!;
  if (!fifo) stdout.on("data", (chunk: Buffer) => copyInto(chunk, events));
  stdout.on("error", () => {}); // a dying ffmpeg ends the pipe; its exit reports the cause
  const stderr: string[] = [];
  lines(child.stderr!, (line) => {
    // ffmpeg has read the list file once it names its input: the credentials leave the disk that early.
    if (line.startsWith("Input #0")) input?.remove();
    stderr.push(line);
    if (stderr.length > 5) stderr.shift();
    events.onStderr(line);
  });
  child.on("error", (err) => finish(err));
  child.on("close", (code, signal) =>
    finish(
      code === 0
        ? null
        : new Error(`ffmpeg ${signal ? `was killed with signal ${signal}` : `exited with code ${code}`}: ${redactCredentials(stderr.join(" | "))}`),
    ),
  );
  return {
    stdout,
    kill() {
      if (!exited) child.kill("SIGKILL");
      // A stopped or stalled run's unread bytes are wanted by no one; a paused read end would otherwise stay open.
      stdout.destroy();
    },
  };
}

/**
 * A FIFO's two ends, its name already gone: ffmpeg gets the write end as stdout, the agent reads the other. The
 * agent opens both, so the read end sees end-of-file only once ffmpeg, the last writer, has gone. Null where no
 * FIFO can be made (no mkfifo): ffmpeg's stdout is then an ordinary pipe, read in chunks.
 */
function openFifo(): { read: number; write: number } | null {
  const file = path.join(privateFolder(), `frames-${++fifos}.fifo`);
  try {
    execFileSync("mkfifo", ["-m", "600", file], { stdio: "ignore" });
    const read = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const write = openSync(file, constants.O_WRONLY);
    return { read, write };
  } catch {
    return null;
  } finally {
    rmSync(file, { force: true });
  }
}
let fifos = 0;

/** The plain-pipe way: a chunk copied into the frame slots, a piece at a time. */
function copyInto(chunk: Buffer, events: Pick<FrameSourceEvents, "into" | "onBytes">): void {
  for (let pos = 0; pos < chunk.length; ) {
    const target = events.into();
    const n = Math.min(target.length, chunk.length - pos);
    target.set(chunk.subarray(pos, pos + n));
    pos += n;
    events.onBytes(n);
  }
}

/**
 * A source URL with credentials (rtsp://user:password@cam/…, http://…) as ffmpeg's argument is readable by
 * every local user in `ps` and /proc. ffmpeg 4–6 reads no URL from a file or the environment, but its concat
 * demuxer reads one from a list file, with the source's own demuxer/protocol options (`option` lines): that
 * file is written 0600 in the private runtime folder and removed when ffmpeg ends. Only `-threads` (a decoder
 * option) stays in argv. Null for a source without credentials: it keeps the plain `-i URL`.
 */
const SOURCE_OPTIONS = new Set(["rtsp_transport", "timeout", "rw_timeout", "reconnect", "reconnect_streamed", "reconnect_delay_max"]);
/** probe limits apply twice: to the camera's stream inside the list, and to the concat input that reads it */
const PROBE_OPTIONS = new Set(["analyzeduration", "fpsprobesize"]);

export function privateInput(o: FrameSourceOptions): { file: string; options: string[]; remove(): void } | null {
  const kind = sourceKind(o.source);
  if ((kind !== "rtsp" && kind !== "http") || !/^[a-z][a-z0-9+.-]*:\/\/[^/@]+@/i.test(o.source)) return null;
  // The source's own options go with it into the file; everything else (-threads, decoder options) stays.
  const argv: string[] = [];
  const lines = ["ffconcat version 1.0", `file '${o.source.replace(/'/g, "'\\''")}'`];
  const all = inputOptions(o);
  for (let i = 0; i < all.length; i++) {
    const name = all[i]!.replace(/^-/, "");
    if (SOURCE_OPTIONS.has(name) && i + 1 < all.length) lines.push(`option ${name} ${all[++i]}`);
    else if (PROBE_OPTIONS.has(name) && i + 1 < all.length) {
      lines.push(`option ${name} ${all[i + 1]}`);
      argv.push(all[i]!, all[++i]!);
    } else argv.push(all[i]!);
  }
  const dir = mkdtempSync(path.join(privateFolder(), "src-"));
  const file = path.join(dir, "source.ffconcat");
  writeFileSync(file, `${lines.join("\n")}\n`, { mode: 0o600 });
  openInputs++;
  let removed = false;
  return {
    file,
    // -safe 0: the listed "file" is a URL; the whitelist is the protocols a camera URL may need.
    options: [...argv, "-f", "concat", "-safe", "0", "-protocol_whitelist", "file,rtsp,rtsps,rtp,srtp,udp,tcp,tls,http,https,httpproxy,crypto"],
    remove: () => {
      if (removed) return;
      removed = true;
      openInputs--;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * ffprobe's input arguments for a source (hardware-decode probing): a credentialled URL goes through the same
 * private list file as ffmpeg's, so the password stays out of `ps` for the probe too.
 */
export function probeInput(source: string, rtspTransport: "tcp" | "udp", timeoutSeconds: number): { args: string[]; remove(): void } {
  const hidden = privateInput({ source, fps: 1, width: 2, height: 2, loop: false, realtime: false, rtspTransport, timeoutSeconds, threads: 1 });
  if (!hidden) return { args: [source], remove: () => {} };
  // Only the demuxer and protocol options: ffprobe takes no -threads, -nostdin or -hide_banner before its input.
  return { args: [...hidden.options.slice(hidden.options.indexOf("-f")), hidden.file], remove: hidden.remove };
}

/**
 * The folder for the list files that hold camera credentials: one 0700 folder per agent process under a private
 * root, $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=, a tmpfs) or <tmp>/eva-<uid>. A process killed with -9
 * leaves its folder: clearPrivateFiles() removes those of processes that are gone.
 */
export function privateFolder(): string {
  const dir = path.join(privateRoot(), String(process.pid));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function privateRoot(): string {
  const root = process.env.RUNTIME_DIRECTORY?.split(":")[0] || path.join(tmpdir(), `eva-${process.getuid?.() ?? "user"}`);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  // /tmp is shared: a root another user made (or a link planted there) must not receive camera passwords.
  const st = lstatSync(root);
  if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid())) {
    throw Object.assign(new Error(`${root} is not a folder of this user: camera credentials are not written there`), { code: "EVA_RUNTIME_DIR" });
  }
  if ((st.mode & 0o777) !== 0o700) chmodSync(root, 0o700);
  return root;
}

/**
 * Empties the private runtime folder: this process's own (when no ffmpeg of it is running any more) and those of
 * agent processes that are gone (kill -9, a power cut on a disk-backed /tmp). The agent calls it at start and stop.
 */
export function clearPrivateFiles(): void {
  const root = privateRoot();
  for (const name of readdirSync(root)) {
    const pid = Number(name);
    const mine = pid === process.pid;
    if (!Number.isInteger(pid) || (mine ? openInputs > 0 : processAlive(pid))) continue;
    rmSync(path.join(root, name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** list files written and not yet removed, in this process */
let openInputs = 0;

/**
 * What ffmpeg and ffprobe inherit: the variables they and their hardware decoders read, not the agent's
 * environment, which holds the MQTT password and whatever else the config's `${VAR}` references name.
 */
const FFMPEG_ENV = [
  "PATH",
  "LD_LIBRARY_PATH",
  "TMPDIR",
  "TZ",
  "LANG",
  "LC_ALL",
  "CUDA_VISIBLE_DEVICES",
  "NVIDIA_VISIBLE_DEVICES",
  "NVIDIA_DRIVER_CAPABILITIES",
  "LIBVA_DRIVER_NAME",
  "LIBVA_DRIVERS_PATH",
  // ffmpeg's HTTP protocol reads these two
  "http_proxy",
  "no_proxy",
];

export function ffmpegEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of FFMPEG_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

/** A fluent-ffmpeg command whose ffmpeg gets ffmpegEnvironment(): fluent-ffmpeg hands spawn no env of its own. */
function command(input: string): ffmpeg.FfmpegCommand {
  const cmd = ffmpeg(input, { stdoutLines: 0 });
  const spawner = cmd as unknown as { _spawnFfmpeg: (args: string[], options: object, ...rest: unknown[]) => void };
  const spawnFfmpeg = spawner._spawnFfmpeg;
  spawner._spawnFfmpeg = function (this: unknown, args, options, ...rest) {
    // options is a callback when fluent-ffmpeg leaves it out (ffprobe, capability queries): passed on unchanged
    const withEnv = typeof options === "function" ? options : { ...options, env: ffmpegEnvironment() };
    spawnFfmpeg.call(this, args, withEnv, ...rest);
  };
  return cmd;
}

/**
 * fluent-ffmpeg spawns ffmpeg asynchronously and its kill() does nothing before the spawn, so a camera stopped
 * right after it started (a quick second config edit) would leave a looping ffmpeg running for ever: a kill
 * asked for early is carried out at the 'start' event.
 */
function killOnceStarted(cmd: ffmpeg.FfmpegCommand): () => void {
  let started = false;
  let wanted = false;
  cmd.on("start", () => {
    started = true;
    if (wanted) cmd.kill("SIGKILL");
  });
  return () => {
    wanted = true;
    if (started) cmd.kill("SIGKILL");
  };
}

/**
 * The last meaningful stderr lines, as a camera's offline reason. ffmpeg repeats the source URL in its errors
 * (`rtsp://user:password@host: Connection refused`), and the reason goes to logs, MQTT and /healthz: the
 * credentials are cut out here, where it is made.
 */
export function summarizeStderr(lines: readonly string[]): string {
  const meaningful = lines.filter((l) => l.trim() && !/^\s*(frame=|size=|Stream mapping|Press \[q\])/.test(l));
  const refusal = lines.findLast((l) => REFUSED.test(l));
  if (refusal) {
    const status = refusal.match(REFUSED)![0];
    return `authentication failed: the camera refused the user name and password of its URL (${status})`;
  }
  return redactCredentials(meaningful.slice(-3).join(" | ")).slice(0, 500);
}

/** RTSP's and HTTP's answers to wrong credentials, as ffmpeg prints them ("method DESCRIBE failed: 401 Unauthorized") */
const REFUSED = /\b(401 Unauthorized|403 Forbidden)\b/;

/** The camera turned the credentials down: retrying soon cannot help, and many cameras lock an account after a few. */
export function refusedCredentials(lines: readonly string[]): boolean {
  return lines.some((l) => REFUSED.test(l));
}

/** `scheme://user:password@host` → `scheme://[redacted]@host`, anywhere in a text. */
export function redactCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, "$1[redacted]@");
}

export interface GrabOptions {
  source: string;
  width: number;
  height: number;
  rtspTransport: "tcp" | "udp";
  /** socket timeout for network sources, and the whole grab's limit (plus a few seconds to connect) */
  timeoutSeconds: number;
}

/** Decodes one frame of `source`, scaled to width × height, as packed RGB24 (for `eva preview`). */
export function grabFrame(o: GrabOptions): Promise<Buffer> {
  const size = o.width * o.height * 3;
  const full = { ...o, fps: 1, loop: false, realtime: false, threads: 2 };
  // eva preview runs on the device too: its camera password stays out of ps like a running camera's.
  const hidden = privateInput(full);
  const input = hidden ? hidden.options : inputOptions(full);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    let settled = false;
    const stderr: string[] = [];
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      hidden?.remove();
      if (got >= size) resolve(Buffer.concat(chunks).subarray(0, size));
      else reject(err ?? new Error(summarizeStderr(stderr) || "ffmpeg gave no frame"));
    };
    const cmd = command(hidden ? hidden.file : o.source)
      .inputOptions(input)
      .outputOptions(["-an", "-sn", "-dn", "-frames:v", "1", "-vf", `scale=${o.width}:${o.height}:flags=bilinear`, "-pix_fmt", "rgb24", "-f", "rawvideo"])
      .on("stderr", (line: string) => {
        stderr.push(line);
        if (stderr.length > 20) stderr.shift();
      })
      .on("error", (err: Error) => settle(new Error(summarizeStderr(stderr) || err.message)))
      // ffmpeg's exit can be seen before the pipe has handed over the last bytes.
      .on("end", () => (stdout.readableEnded || stdout.destroyed ? settle(null) : stdout.once("close", () => settle(null))));
    const kill = killOnceStarted(cmd);
    const stdout = cmd.pipe() as Readable;
    stdout.on("error", () => {});
    stdout.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= size) settle(null);
    });
    const timer = setTimeout(
      () => {
        kill();
        settle(new Error(`no frame within ${o.timeoutSeconds + 5} s${stderr.length ? `: ${summarizeStderr(stderr)}` : ""}`));
      },
      (o.timeoutSeconds + 5) * 1000,
    );
  });
}

/**
 * When a file was recorded, from its container's `creation_time` tag (dashcams, phones and NVR exports write
 * it; ffmpeg writes none unless asked). null when absent, unreadable, or the probe takes over timeoutMs.
 */
export function fileCreationTime(file: string, timeoutMs = 10_000): Promise<number | null> {
  const ffprobe = process.env.FFPROBE_PATH ?? "ffprobe";
  const args = ["-v", "error", "-print_format", "json", "-show_entries", "format_tags=creation_time:stream_tags=creation_time:stream=codec_type", file];
  return new Promise((resolve) => {
    execFile(ffprobe, args, { timeout: timeoutMs, env: ffmpegEnvironment() }, (err, stdout) => {
      let data: ProbedTags | null = null;
      try {
        data = err ? null : (JSON.parse(String(stdout)) as ProbedTags);
      } catch {
        data = null;
      }
      if (!data) return resolve(null);
      const tag = data.format?.tags?.creation_time ?? data.streams?.find((s) => s.codec_type === "video")?.tags?.creation_time;
      const ms = typeof tag === "string" ? Date.parse(tag) : Number.NaN;
      // 1970 is what a muxer writes for "unknown"
      resolve(Number.isFinite(ms) && ms > 0 ? ms : null);
    });
  });
}

interface ProbedTags {
  format?: { tags?: { creation_time?: string } };
  streams?: Array<{ codec_type?: string; tags?: { creation_time?: string } }>;
}

// --- Recording: the camera's stream copied into a ring of short segments, and event clips cut from them.

export interface RecordingOptions extends Pick<FrameSourceOptions, "source" | "loop" | "realtime" | "rtspTransport" | "timeoutSeconds"> {
  /** folder of the segments; each start writes names of its own */
  dir: string;
  /** prefix of this start's segment files */
  prefix: string;
  /** target segment length; a segment ends at the first key frame after it */
  segmentSeconds: number;
}

/** One finished segment as the segment muxer lists it: times are the stream's, in seconds. */
export interface SegmentEntry {
  file: string;
  start: number;
  end: number;
}

/**
 * Recording's input: the camera source with its demuxer and protocol options, no decoder options (the stream is
 * copied, never decoded).
 */
function recordingInput(o: RecordingOptions): FrameSourceOptions {
  return { ...o, fps: 1, width: 2, height: 2, threads: 1, skipFrame: "none", decodeArgs: [] };
}

/**
 * Output options of the recorder: the first video stream copied (no re-encode: a fraction of a percent of a
 * core) into MPEG-TS segments, which can be cut at any segment boundary and survive a kill mid-write. Each
 * finished segment is listed on stdout as `file,start,end` (CSV), so the agent learns of it the moment it closes.
 * Audio is left out: the clip is for a browser and camera audio (G.711) does not go into MP4.
 */
export function recordingOutputOptions(o: RecordingOptions): string[] {
  return [
    "-map",
    "0:v:0",
    "-c",
    "copy",
    "-an",
    "-sn",
    "-dn",
    "-f",
    "segment",
    "-segment_time",
    String(o.segmentSeconds),
    "-segment_format",
    "mpegts",
    "-segment_list",
    "pipe:1",
    "-segment_list_type",
    "csv",
    path.join(o.dir, `${o.prefix}-%06d.ts`),
  ];
}

export interface SegmentRecorderProcess {
  /** the ffmpeg's pid, for its CPU figures */
  pid: number | undefined;
  kill(): void;
  /** asks ffmpeg to finish (the open segment is closed and listed), killing it after `graceMs`; resolves at its exit */
  finish(graceMs: number): Promise<void>;
}

export interface SegmentRecorderEvents {
  onSegment(s: SegmentEntry): void;
  onStderr(line: string): void;
  /** called once; error null when ffmpeg ended cleanly (end of a file) */
  onExit(error: Error | null): void;
}

/** Starts ffmpeg copying `source` into segments under `dir`. */
export function startSegmentRecorder(o: RecordingOptions, events: SegmentRecorderEvents): SegmentRecorderProcess {
  const full = recordingInput(o);
  const hidden = privateInput(full);
  const input = hidden ? [...hidden.options, "-i", hidden.file] : [...inputOptions(full), "-i", o.source];
  const args = ["-loglevel", "error", "-nostats", ...input, ...recordingOutputOptions(o)];
  const child = spawn("ffmpeg", args, { stdio: ["ignore", "pipe", "pipe"], env: ffmpegEnvironment() });
  let exited = false;
  const finish = (err: Error | null) => {
    if (exited) return;
    exited = true;
    hidden?.remove();
    events.onExit(err);
  };
  lines(child.stdout, (line) => {
    const [file, start, end] = line.split(",");
    const s = Number(start);
    const e = Number(end);
    if (file && Number.isFinite(s) && Number.isFinite(e)) events.onSegment({ file: path.join(o.dir, path.basename(file)), start: s, end: e });
  });
  lines(child.stderr, events.onStderr);
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  child.on("error", (err) => finish(err));
  child.on("close", (code, signal) => finish(code === 0 ? null : new Error(signal ? `ffmpeg killed by ${signal}` : `ffmpeg exited with code ${code}`)));
  return {
    pid: child.pid,
    kill: () => {
      if (!exited) child.kill("SIGKILL");
    },
    async finish(graceMs) {
      if (exited || child.exitCode !== null) return;
      // SIGINT: ffmpeg writes out the segment it has open and lists it, as at the end of a file.
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

function lines(stream: Readable, each: (line: string) => void): void {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const p of parts) if (p.trim()) each(p.trim());
  });
  stream.on("error", () => {});
}

export interface ClipCut {
  /** segment files in order, all in one folder; the clip starts at the first one's start (a key frame) */
  segments: readonly string[];
  /** where the clip ends, from the first segment's start */
  durationSeconds: number;
  out: string;
}

/**
 * Arguments that cut a clip from segments: the concat demuxer joins them (a list file beside them, names
 * relative), `-t` ends it (packets past it are dropped: the end needs no key frame), and the MP4 has its index
 * first (`+faststart`) so a browser plays it while it loads.
 */
export function clipArgs(list: string, c: Pick<ClipCut, "durationSeconds">, out: string): string[] {
  return [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    "-y",
    "-f",
    "concat",
    "-i",
    list,
    "-t",
    c.durationSeconds.toFixed(3),
    "-map",
    "0:v:0",
    "-c",
    "copy",
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
    out,
  ];
}

/** Cuts one clip into `c.out` (written beside it first, then renamed); resolves to its duration in seconds. */
export async function cutClip(c: ClipCut): Promise<{ durationSeconds: number; bytes: number }> {
  const dir = path.dirname(c.segments[0]!);
  const list = path.join(dir, `${path.basename(c.out)}.ffconcat`);
  const tmp = `${c.out}.part`;
  try {
    await writeFile(list, `ffconcat version 1.0\n${c.segments.map((s) => `file '${path.basename(s)}'`).join("\n")}\n`);
    await runFfmpeg("ffmpeg", clipArgs(list, c, tmp));
    const durationSeconds = await mediaDuration(tmp);
    await rename(tmp, c.out);
    return { durationSeconds, bytes: (await stat(c.out)).size };
  } finally {
    await rm(list, { force: true });
    await rm(tmp, { force: true });
  }
}

/** A media file's duration in seconds, as ffprobe reads its container. */
export async function mediaDuration(file: string): Promise<number> {
  const out = await runFfmpeg("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file]);
  const d = Number(out.trim());
  if (!Number.isFinite(d)) throw new Error(`ffprobe gave no duration for ${file}`);
  return d;
}

/** Runs ffmpeg or ffprobe to its end; resolves to stdout, rejects with the last stderr lines. */
function runFfmpeg(program: "ffmpeg" | "ffprobe", args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"], env: ffmpegEnvironment() });
    let out = "";
    const err: string[] = [];
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    lines(child.stderr, (l) => {
      err.push(l);
      if (err.length > 10) err.shift();
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${program} failed (code ${code}): ${summarizeStderr(err) || "no message"}`))));
  });
}
