import { existsSync } from "node:fs";
import { SignStore } from "../events/sign-store.js";
import { EventStore } from "../events/store.js";
import { parse, parseSince, UsageError } from "./args.js";

/** `eva signs`: stored traffic-sign sightings (one per sign per pass), or a camera's inventory by class. */
export async function signs(args: string[]): Promise<number> {
  const { values } = parse(args, {
    db: { type: "string" },
    camera: { type: "string" },
    since: { type: "string" },
    inventory: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (!values.db) throw new UsageError("eva signs needs --db FILE");
  if (!existsSync(values.db)) throw new UsageError(`${values.db}: no such database file`);
  if (values.inventory && !values.camera) throw new UsageError("eva signs --inventory needs --camera NAME");
  const sinceMs = parseSince(values.since);

  const store = new EventStore(values.db, { readonly: true });
  try {
    const signStore = new SignStore(store);
    const rows = values.inventory ? signStore.inventory(values.camera!) : signStore.sightings({ camera: values.camera, sinceMs });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    for (const r of rows) {
      process.stdout.write(
        "count" in r
          ? `${r.camera.padEnd(12)} ${r.label.padEnd(48)} ${String(r.count).padStart(5)}  last ${r.last_seen}\n`
          : `${r.first_seen}  ${r.camera.padEnd(12)} ${r.label.padEnd(48)} ${r.score.toFixed(2)}  ${r.snapshot ?? ""}\n`,
      );
    }
    if (!rows.length) process.stdout.write("no sightings\n");
    return 0;
  } finally {
    store.close();
  }
}
