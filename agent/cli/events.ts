import { existsSync } from "node:fs";
import { EventStore } from "../events/store.js";
import { parse, parseSince, UsageError } from "./args.js";

export async function events(args: string[]): Promise<number> {
  const { values } = parse(args, {
    db: { type: "string" },
    camera: { type: "string" },
    label: { type: "string" },
    since: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
  });
  if (!values.db) throw new UsageError("eva events needs --db FILE");
  if (!existsSync(values.db)) throw new UsageError(`${values.db}: no such database file`);
  const sinceMs = parseSince(values.since);
  const limit = values.limit === undefined ? 1000 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit '${values.limit}' must be a positive integer`);

  const store = new EventStore(values.db);
  try {
    const rows = store.queryEvents({ camera: values.camera, label: values.label, sinceMs, limit });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    for (const e of rows) {
      const end = e.end_time ?? "open";
      process.stdout.write(`${e.start_time}  ${end.padEnd(24)}  ${e.camera.padEnd(12)} ${e.label.padEnd(14)} ${e.top_score.toFixed(2)}  ${e.id}\n`);
    }
    if (!rows.length) process.stdout.write("no events\n");
    return 0;
  } finally {
    store.close();
  }
}
