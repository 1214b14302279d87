import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

// Who may use the console. On the loopback address only someone on the device (or at the end of an ssh
// tunnel) can reach it; bound anywhere else the whole LAN can, so a token from the environment is required.

/** Environment variable holding the console's token. */
export const TOKEN_ENV = "EVA_CONSOLE_TOKEN";
export const TOKEN_COOKIE = "eva_console";

/** 127.0.0.0/8, ::1 and localhost: addresses nobody off the device can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/**
 * Token comparison in constant time: both sides are hashed first, so neither the content nor the length of
 * the expected token leaks through how long a wrong guess takes.
 */
export function tokensMatch(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export type AccessDecision = { ok: true; setCookie?: string } | { ok: false; status: 401 | 403; message: string };

export interface ConsoleAccessOptions {
  /** the address the HTTP server listens on */
  host: string;
  /** the token from the environment; undefined or empty when none is set */
  token: string | undefined;
}

/**
 * Decides each request. Loopback binding: open, but the Host header must name a loopback address too, so a web
 * page elsewhere cannot reach the console through DNS rebinding (with a token set, a proxy's Host passes with
 * the token). Other bindings: the token, as `Authorization: Bearer …`, as a Basic password, the `eva_console`
 * cookie, or `?token=` (the page answers it with the cookie, so images and the page's own requests carry it). Without a token in the environment the console stays off there.
 */
export class ConsoleAccess {
  readonly needsToken: boolean;
  private readonly token: string;

  constructor(o: ConsoleAccessOptions) {
    this.needsToken = !isLoopbackHost(o.host);
    this.token = o.token ?? "";
  }

  /** Whether the console is usable at all (a non-loopback binding without a token is not). */
  get enabled(): boolean {
    return !this.needsToken || this.token.length > 0;
  }

  check(req: IncomingMessage, url: URL): AccessDecision {
    if (!this.needsToken) {
      const host = (req.headers.host ?? "").replace(/:\d+$/, "");
      if (isLoopbackHost(host)) return { ok: true };
      // another name for this address: a reverse proxy on the device, or a page elsewhere rebinding DNS
      if (!this.token)
        return { ok: false, status: 403, message: `the console answers loopback names only (Host: ${host || "none"}); behind a proxy, set ${TOKEN_ENV}` };
    } else if (!this.token) {
      return { ok: false, status: 403, message: `the console is off: the server listens beyond loopback and ${TOKEN_ENV} is not set` };
    }
    const auth = req.headers.authorization ?? "";
    const bearer = /^Bearer\s+(.+)$/i.exec(auth)?.[1];
    if (bearer !== undefined) return tokensMatch(bearer.trim(), this.token) ? { ok: true } : deny();
    // Basic with the token as the password (any user name): what curl -u and Home Assistant's MJPEG camera send
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(auth)?.[1];
    if (basic !== undefined) {
      const decoded = Buffer.from(basic, "base64").toString("utf8");
      return tokensMatch(decoded.slice(decoded.indexOf(":") + 1), this.token) ? { ok: true } : deny();
    }
    const query = url.searchParams.get("token");
    if (query !== null) {
      if (!tokensMatch(query, this.token)) return deny();
      return { ok: true, setCookie: `${TOKEN_COOKIE}=${encodeURIComponent(query)}; HttpOnly; SameSite=Strict; Path=/` };
    }
    const cookie = cookieValue(req.headers.cookie, TOKEN_COOKIE);
    if (cookie !== undefined && tokensMatch(cookie, this.token)) return { ok: true };
    return deny();
  }
}

const deny = (): AccessDecision => ({
  ok: false,
  status: 401,
  message: `token required: open /console/?token=…, or send Authorization: Bearer … or Basic with the token as password (${TOKEN_ENV} on the device)`,
});

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
