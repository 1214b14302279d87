import type { RecordEnvelope, RecordKind, RecordMessage } from "../core/records.js";
import { newEventId } from "../core/ulid.js";
import type { EventStore } from "./store.js";

/** A record before the recorder's stamp: its id may be missing (a new one is made), never its device or camera. */
export type Unstamped<T extends RecordEnvelope> = Omit<T, "id"> & { id?: string };

/**
 * Writes any record kind: the kind's rows and the outbox entries announcing them commit in one transaction,
 * so whatever is stored is published and nothing else is (QoS 1, retained where the kind says so).
 */
export class Recorder {
  constructor(private readonly store: EventStore) {}

  /** The record with its id: made once, before any write, so a held or repeated write keeps it. */
  static stamp<T extends RecordEnvelope>(record: Unstamped<T>, now = Date.now()): T {
    return (record.id ? record : { ...record, id: newEventId(now) }) as T;
  }

  record<T extends RecordEnvelope>(kind: RecordKind<T, never>, record: T): RecordMessage[] {
    return this.store.inTransaction(`record ${kind.name}`, (db) => {
      const messages = kind.write(db, record);
      for (const m of messages) this.store.enqueue(m.topic, JSON.stringify(m.payload), { qos: 1, retain: m.retain });
      return messages;
    });
  }
}
