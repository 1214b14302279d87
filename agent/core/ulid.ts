import { randomBytes } from "node:crypto";

// ULID (https://github.com/ulid/spec): 48-bit ms timestamp + 80-bit randomness, Crockford base32, 26 chars.
// Lexicographic order is creation order; within one millisecond the random part is incremented instead of
// redrawn so ids made in a burst still sort in the order they were made.

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

let lastTime = -1;
const lastRandom = new Uint8Array(RANDOM_CHARS); // base32 digits, most significant first

function drawRandom(): void {
  const bytes = randomBytes(10); // 80 bits → 16 digits of 5 bits
  let acc = 0n;
  for (const b of bytes) acc = (acc << 8n) | BigInt(b);
  for (let i = RANDOM_CHARS - 1; i >= 0; i--) {
    lastRandom[i] = Number(acc & 31n);
    acc >>= 5n;
  }
}

/** Adds one to the random part; false when it overflows (2^80 ids in one ms: never in practice). */
function incrementRandom(): boolean {
  for (let i = RANDOM_CHARS - 1; i >= 0; i--) {
    if (lastRandom[i] < 31) {
      lastRandom[i]++;
      return true;
    }
    lastRandom[i] = 0;
  }
  return false;
}

/** A new ULID: unique, and sortable by creation time even within a millisecond or if the clock steps back. */
export function newEventId(now: number = Date.now()): string {
  // A clock stepping backwards (NTP) keeps the last time so ids stay increasing.
  if (now > lastTime) {
    lastTime = now;
    drawRandom();
  } else if (!incrementRandom()) {
    lastTime++;
    drawRandom();
  }
  let time = lastTime;
  const out = new Array<string>(TIME_CHARS + RANDOM_CHARS);
  for (let i = TIME_CHARS - 1; i >= 0; i--) {
    out[i] = ALPHABET[time % 32];
    time = Math.floor(time / 32);
  }
  for (let i = 0; i < RANDOM_CHARS; i++) out[TIME_CHARS + i] = ALPHABET[lastRandom[i]];
  return out.join("");
}

/** The creation time (ms since epoch) encoded in a ULID. */
export function eventIdTime(id: string): number {
  let t = 0;
  for (let i = 0; i < TIME_CHARS; i++) t = t * 32 + ALPHABET.indexOf(id[i]);
  return t;
}
