// What makes mqtt.url usable, decided once: the schema rejects a bad URL at load (check-config and every
// reload), and the publisher refuses one that reached it some other way instead of letting mqtt.js guess.

export const BROKER_SCHEMES = ["mqtt", "mqtts", "ws", "wss", "tcp", "ssl"] as const;

/** Why a broker URL cannot be used, or null when it can. */
export function brokerUrlProblem(url: string): string | null {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (!scheme) return `'${redact(url)}' is not a URL; use mqtt://host:1883 (or mqtts://, ws://, wss://)`;
  if (!(BROKER_SCHEMES as readonly string[]).includes(scheme)) return `scheme ${scheme}:// is not a broker's; use mqtt://, mqtts://, ws:// or wss://`;
  // WHATWG URL parsing rejects a port above 65535; a port of 0 or an empty host it accepts, MQTT cannot use.
  const port = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/?#]*)(?::(\d*))?/i.exec(url)?.[1];
  if (port !== undefined && port !== "" && (Number(port) < 1 || Number(port) > 65535)) return `port ${port} is out of range 1–65535`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `'${redact(url)}' is not a valid URL`;
  }
  if (!u.hostname) return "the URL names no host";
  return null;
}

const redact = (url: string) => url.replace(/\/\/[^/@]*@/, "//[redacted]@");
