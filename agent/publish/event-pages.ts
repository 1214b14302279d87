import type { EvaEvent } from "../core/event.js";

/** Where the next page starts: after this event in (start time, id) order. Opaque to clients. */
interface Cursor {
  t: number;
  id: string;
}

export function encodeCursor(ev: Pick<EvaEvent, "start_time" | "id">): string {
  return Buffer.from(JSON.stringify({ t: Date.parse(ev.start_time), id: ev.id })).toString("base64url");
}

export function decodeCursor(s: string): Cursor | null {
  try {
    const c = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as Partial<Cursor>;
    return typeof c.t === "number" && Number.isFinite(c.t) && typeof c.id === "string" ? { t: c.t, id: c.id } : null;
  } catch {
    return null;
  }
}

export interface EventPage {
  events: EvaEvent[];
  /** pass as `cursor` for the next page; null on the last page */
  next_cursor: string | null;
}

/**
 * One page of events that started at or after sinceMs (or after the cursor), oldest first. `query` returns
 * events ordered by (start_time, id) from a start time on; rows sharing the cursor's start time are skipped up
 * to its id, so pages neither repeat nor miss an event.
 */
export function eventPage(query: (sinceMs: number, limit: number) => EvaEvent[], sinceMs: number, limit: number, cursor: Cursor | null): EventPage {
  const from = cursor ? Math.max(cursor.t, sinceMs) : sinceMs;
  let fetch = limit + 1;
  for (;;) {
    const rows = query(from, fetch);
    const after = cursor ? rows.filter((e) => Date.parse(e.start_time) > cursor.t || e.id > cursor.id) : rows;
    if (after.length > limit || rows.length < fetch) {
      const events = after.slice(0, limit);
      const more = after.length > limit;
      return { events, next_cursor: more ? encodeCursor(events[events.length - 1]!) : null };
    }
    fetch *= 2; // many events share the cursor's start time: read further
  }
}
