import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
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

export type AccessDecision =
  | { ok: true; setCookie?: string }
  | { ok: false; status: 401 | 403; message: string /** a page navigation that should go to the login page */; login?: boolean };

export interface ConsoleAccessOptions {
  /** the address the HTTP server listens on */
  host: string;
  /** the token from the environment; undefined or empty when none is set */
  token: string | undefined;
}

/** A signed-in browser stays signed in this long after its last request. */
const SESSION_IDLE_MS = 12 * 3600_000;
/** at most this many browsers signed in at once; the longest idle goes first */
const MAX_SESSIONS = 64;

/**
 * Decides each request. Loopback binding: open, but the Host header must name a loopback address too, so a web
 * page elsewhere cannot reach the console through DNS rebinding (with a token set, a proxy's Host passes with
 * the token). Other bindings: the token, as `Authorization: Bearer …`, as a Basic password, or signed in
 * through the login page (or `?token=` once), after which the `eva_console` cookie holds a random session id,
 * never the token. Without a token in the environment such a binding still serves the console to loopback
 * clients (on the device, or through an ssh tunnel) and refuses everyone else.
 */
export class ConsoleAccess {
  readonly needsToken: boolean;
  private readonly token: string;
  /** session id → when it lapses (ms since epoch) */
  private readonly sessions = new Map<string, number>();

  constructor(o: ConsoleAccessOptions) {
    this.needsToken = !isLoopbackHost(o.host);
    this.token = o.token ?? "";
  }

  /** Whether the console answers beyond loopback clients (a non-loopback binding without a token does not). */
  get remote(): boolean {
    return !this.needsToken || this.token.length > 0;
  }

  /** Whether a login page makes sense: a token exists to sign in with. */
  get hasToken(): boolean {
    return this.token.length > 0;
  }

  check(req: IncomingMessage, url: URL): AccessDecision {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    if (!this.needsToken || (!this.token && isLoopbackHost(req.socket.remoteAddress ?? ""))) {
      if (isLoopbackHost(host)) return { ok: true };
      // another name for this address: a reverse proxy on the device, or a page elsewhere rebinding DNS
      if (!this.token)
        return { ok: false, status: 403, message: `the console answers loopback names only (Host: ${host || "none"}); behind a proxy, set ${TOKEN_ENV}` };
    } else if (!this.token) {
      return {
        ok: false,
        status: 403,
        message: `the console answers only on the device (loopback): the server listens beyond loopback and ${TOKEN_ENV} is not set`,
      };
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
    if (query !== null) return tokensMatch(query, this.token) ? { ok: true, setCookie: this.signIn() } : deny();
    const session = cookieValue(req.headers.cookie, TOKEN_COOKIE);
    if (session !== undefined && this.touch(session)) return { ok: true };
    return { ...deny(), login: true };
  }

  /** The login form's token: a session cookie for it, or null when it is wrong. */
  login(token: string): string | null {
    return this.token && tokensMatch(token, this.token) ? this.signIn() : null;
  }

  /** Ends the session the request carries (sign out). */
  logout(req: IncomingMessage): string {
    const session = cookieValue(req.headers.cookie, TOKEN_COOKIE);
    if (session !== undefined) this.sessions.delete(session);
    return `${TOKEN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }

  private signIn(): string {
    const now = Date.now();
    for (const [id, until] of this.sessions) if (until <= now) this.sessions.delete(id);
    // Map order is insertion order and touch() re-inserts: the first entry is the longest idle.
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString("base64url");
    this.sessions.set(id, now + SESSION_IDLE_MS);
    return `${TOKEN_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_IDLE_MS / 1000}`;
  }

  private touch(id: string): boolean {
    const until = this.sessions.get(id);
    if (until === undefined) return false;
    this.sessions.delete(id);
    if (until <= Date.now()) return false;
    this.sessions.set(id, Date.now() + SESSION_IDLE_MS);
    return true;
  }
}

const deny = (): { ok: false; status: 401; message: string } => ({
  ok: false,
  status: 401,
  message: `token required: sign in at /console/login, or send Authorization: Bearer … or Basic with the token as password (${TOKEN_ENV} on the device)`,
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
