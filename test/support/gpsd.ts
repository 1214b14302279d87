import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { freePort } from "./ports.js";

/** NMEA of a drive due north from `lat0, lon0` at 10 m/s, one RMC and GGA a second. */
export function northboundNmea(seconds: number, lat0 = 52.52, lon0 = 13.405): string {
  const sentence = (body: string) => {
    let sum = 0;
    for (const c of body) sum ^= c.charCodeAt(0);
    return `$${body}*${sum.toString(16).toUpperCase().padStart(2, "0")}`;
  };
  const dm = (v: number, degDigits: number) => `${String(Math.trunc(v)).padStart(degDigits, "0")}${((v - Math.trunc(v)) * 60).toFixed(4).padStart(7, "0")}`;
  const lines: string[] = [];
  for (let i = 0; i < seconds; i++) {
    const lat = lat0 + (i * 10) / 111_195;
    const t = `1200${String(i % 60).padStart(2, "0")}.00`;
    lines.push(sentence(`GPRMC,${t},A,${dm(lat, 2)},N,${dm(lon0, 3)},E,19.4,0.0,071226,,,A`));
    lines.push(sentence(`GPGGA,${t},${dm(lat, 2)},N,${dm(lon0, 3)},E,1,08,0.9,35.0,M,40.0,M,,`));
  }
  return `${lines.join("\r\n")}\r\n`;
}

/**
 * Debian's gpsfake (package gpsd-clients) replaying an NMEA log in a loop through its own gpsd on `port`
 * (a free one unless given). stop() ends gpsfake and the gpsd it started (their process group).
 */
export class Gpsfake {
  private constructor(
    readonly port: number,
    private readonly proc: ChildProcess,
  ) {}

  static async start(dir: string, nmea: string, port?: number): Promise<Gpsfake> {
    const log = path.join(dir, "drive.nmea");
    writeFileSync(log, nmea);
    const p = port ?? (await freePort());
    // -c: a sentence every 0.1 s (an RMC+GGA pair is one fix: 5 fixes a second); -n: gpsd reads without a client
    const proc = spawn("gpsfake", ["-q", "-n", "-P", String(p), "-c", "0.1", log], { detached: true, stdio: "ignore" });
    return new Gpsfake(p, proc);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.pid === undefined) return;
    const exited = new Promise<void>((r) => this.proc.once("exit", () => r()));
    try {
      process.kill(-this.proc.pid, "SIGTERM");
    } catch {
      return;
    }
    await exited;
  }
}
