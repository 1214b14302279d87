import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/paths.js";

// Dockerfile.jetson cannot be built here (no arm64 machine, no NVIDIA repositories): its stages are read as
// docker reads them, and the runtime stage's ffmpeg step runs for real under bash, with apt-get recorded by a
// stand-in and the paths it writes moved into a temporary folder.

interface Stage {
  from: string;
  steps: { op: string; args: string }[];
}

function stages(text: string): Stage[] {
  const out: Stage[] = [];
  const joined = text.replace(/\\\n/g, " ").split("\n");
  for (const line of joined) {
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!m || line.trimStart().startsWith("#")) continue;
    const [, op, args] = m;
    if (op === "FROM") out.push({ from: args, steps: [] });
    else out.at(-1)?.steps.push({ op, args });
  }
  return out;
}

const dockerfile = stages(readFileSync(path.join(repoRoot, "Dockerfile.jetson"), "utf8"));
const stage = (name: string) => dockerfile.find((s) => s.from.endsWith(` AS ${name}`));
const runtime = dockerfile.at(-1)!;
const ffmpegStep = runtime.steps.find((s) => s.op === "RUN" && s.args.includes("install") && /\bffmpeg\b/.test(s.args))!;

describe("Dockerfile.jetson, as docker reads it", () => {
  it("takes Node 22 LTS and carries trtexec into the runtime image", () => {
    expect(dockerfile[0].from).toMatch(/^node:22-/);
    expect(runtime.steps.some((s) => s.op === "COPY" && /--from=ort \/out\/bin\/trtexec /.test(s.args))).toBe(true);
  });

  it("checks the Jetson OTA key before the hours-long onnxruntime build", () => {
    const ort = stage("ort")!;
    const key = ort.steps.findIndex((s) => s.op === "RUN" && /test -s \/etc\/apt\/trusted\.gpg\.d\/jetson-ota-public\.asc/.test(s.args));
    const build = ort.steps.findIndex((s) => s.op === "RUN" && s.args.includes("build-onnxruntime-node.sh"));
    expect(key).toBeGreaterThanOrEqual(0);
    expect(key).toBeLessThan(build);
    expect(ort.steps[build].args).toMatch(/cp \/etc\/apt\/trusted\.gpg\.d\/jetson-ota-public\.asc \/out\//);
  });

  it("the runtime stage's ffmpeg step exists and runs under bash with pipefail", () => {
    expect(ffmpegStep).toBeDefined();
    expect(runtime.steps.find((s) => s.op === "SHELL")?.args).toBe('["/bin/bash", "-o", "pipefail", "-c"]');
  });
});

describe("the runtime stage's ffmpeg step, run", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "eva-jetson-image-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const realFfmpeg = execFileSync("bash", ["-c", "command -v ffmpeg"], { encoding: "utf8" }).trim();

  // One run in a fresh root: apt-get records each call and whether NVIDIA's sources were written by then.
  function run(ffmpeg: "ubuntu" | "nvidia" | "broken") {
    const root = mkdtempSync(path.join(dir, `${ffmpeg}-`));
    const bin = path.join(root, "bin");
    mkdirSync(bin);
    mkdirSync(path.join(root, "etc/apt/sources.list.d"), { recursive: true });
    mkdirSync(path.join(root, "etc/apt/preferences.d"), { recursive: true });
    mkdirSync(path.join(root, "var/lib/apt/lists"), { recursive: true });
    const log = path.join(root, "apt.log");
    writeFileSync(
      path.join(bin, "apt-get"),
      `#!/bin/sh\nif [ -e "${root}/etc/apt/sources.list.d/nvidia-l4t.list" ]; then n=nvidia; else n=ubuntu; fi\necho "$n: $*" >> "${log}"\n`,
    );
    const stub =
      ffmpeg === "nvidia"
        ? `#!/bin/sh\ncase "$*" in *-decoders*) printf ' V..... h264               H.264\\n V..... h264_nvv4l2dec     NVIDIA Jetson h264 decoder\\n';; *) echo "ffmpeg version 6.0-nvidia";; esac\n`
        : ffmpeg === "broken"
          ? `#!/bin/sh\necho "ffmpeg: error while loading shared libraries: libnvbufsurface.so.1.0.0: cannot open shared object file" >&2\nexit 127\n`
          : `#!/bin/sh\nexec "${realFfmpeg}" "$@"\n`;
    writeFileSync(path.join(bin, "ffmpeg"), stub);
    for (const f of ["apt-get", "ffmpeg"]) chmodSync(path.join(bin, f), 0o755);
    const command = ffmpegStep.args.replace(/^RUN\s+/, "").replace(/(?<![\w$])\/(etc|var|opt)\//g, `${root}/$1/`);
    const r = spawnSync("bash", ["-o", "pipefail", "-c", command], {
      encoding: "utf8",
      env: { PATH: `${bin}:/usr/bin:/bin`, L4T_REPO: "r36.4", DEBIAN_FRONTEND: "noninteractive" },
    });
    return { status: r.status, stderr: r.stderr, apt: existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [], root };
  }

  it("installs ca-certificates before NVIDIA's https sources exist, and ffmpeg after an update that fails on any error", () => {
    const r = run("nvidia");
    expect(r.status, r.stderr).toBe(0);
    expect(r.apt).toEqual([
      "ubuntu: update",
      "ubuntu: install -y --no-install-recommends ca-certificates",
      "nvidia: update -o APT::Update::Error-Mode=any",
      "nvidia: install -y --no-install-recommends ffmpeg",
    ]);
    const sources = readFileSync(path.join(r.root, "etc/apt/sources.list.d/nvidia-l4t.list"), "utf8");
    expect(sources).toContain("https://repo.download.nvidia.com/jetson/common r36.4 main");
    expect(sources).toContain("https://repo.download.nvidia.com/jetson/t234 r36.4 main");
  });

  it("fails the build when the installed ffmpeg has no h264_nvv4l2dec (this machine's ffmpeg: Ubuntu's kind)", () => {
    const r = run("ubuntu");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/has no h264_nvv4l2dec: NVIDIA's Jetson ffmpeg was not installed/);
  });

  it("fails the build, saying why, when ffmpeg cannot start", () => {
    const r = run("broken");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ffmpeg does not start here/);
  });
});
