import { connect } from "node:net";

const DEFAULT_PORTS: Record<string, number> = { "rtsp:": 554, "rtsps:": 322, "http:": 80, "https:": 443 };

/** host and port a network source connects to; null for files, devices and URLs it cannot read */
export function sourceEndpoint(source: string): { host: string; port: number } | null {
  let u: URL;
  try {
    u = new URL(source);
  } catch {
    return null;
  }
  const port = u.port ? Number(u.port) : DEFAULT_PORTS[u.protocol];
  if (!port || !u.hostname) return null;
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port };
}

/** Whether a TCP connection to host:port opens within timeoutMs (a few packets, no ffmpeg). */
export function portOpens(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
