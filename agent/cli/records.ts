import { existsSync } from "node:fs";
import type { RecordKind } from "../core/records.js";
import { EventStore } from "../events/store.js";
import { parse, parseSince, UsageError } from "./args.js";

/** `eva <kind's command> --db FILE [--camera C] [--since ISO] [--limit N] [--json]`: a record kind's stored records, oldest first. */
export async function listRecords(kind: RecordKind<never, never>, args: string[]): Promise<number> {
  const command = kind.command!;
  const { values } = parse(args, {
    db: { type: "string" },
    camera: { type: "string" },
    since: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
  });
  if (!values.db) throw new UsageError(`eva ${command.name} needs --db FILE`);
  if (!existsSync(values.db)) throw new UsageError(`${values.db}: no such database file`);
  const sinceMs = parseSince(values.since);
  const limit = values.limit === undefined ? 10_000 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit '${values.limit}' must be a positive integer`);

  const store = new EventStore(values.db);
  try {
    const rows = store.inTransaction(`list ${kind.name}`, (db) => command.rows(db, { camera: values.camera, sinceMs, limit }));
    if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else process.stdout.write(rows.length ? `${rows.map((r) => command.line(r as never)).join("\n")}\n` : `no ${kind.name}\n`);
    return 0;
  } finally {
    store.close();
  }
}
