import { execFileSync } from "node:child_process";
import { createReadStream, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { personPanTs } from "./clips.js";

/** The camera's password: a test checks it never reaches a command line or a log. */
export const CAMERA_PASSWORD = "s3cretPW";

/** The command lines of this process's children named `name` (ffmpeg, ffprobe), as ps and /proc show them. */
export function childCommandLines(name: string): string[] {
  const pids = execFileSync("pgrep", ["-P", String(process.pid), name], { encoding: "utf8" })
    .trim()
    .split("\n");
  return pids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "));
}

/**
 * An HTTP camera streaming the person pan as MPEG-TS behind Basic auth (viewer / CAMERA_PASSWORD). With `watch`,
 * the command lines of this process's `watch` children are recorded while an authorised request is answered,
 * so a check of them cannot miss the process that asked.
 */
export async function passwordCamera(watch?: string): Promise<{ url: string; argvs: string[]; close(): void }> {
  const ts = await personPanTs(20, 10);
  const argvs: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== `Basic ${Buffer.from(`viewer:${CAMERA_PASSWORD}`).toString("base64")}`) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="cam"' });
      return res.end();
    }
    if (watch) argvs.push(...childCommandLines(watch));
    res.writeHead(200, { "content-type": "video/mp2t" });
    createReadStream(ts, { highWaterMark: 16 * 1024 }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://viewer:${CAMERA_PASSWORD}@127.0.0.1:${(server.address() as AddressInfo).port}/cam.ts`,
    argvs,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}
