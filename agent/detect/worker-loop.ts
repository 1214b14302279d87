import { parentPort } from "node:worker_threads";
import { plainError } from "./onnx-session.js";

/** One model's side of a worker thread (a detector's, a classifier's): what differs between them. */
export interface ModelWorker<Loaded, Request extends { type: string; id: number }> {
  /** loads the session and whatever the requests reuse; rejects with why the model cannot run */
  open(): Promise<Loaded>;
  /** the "ready" message's facts (the model's info, its provider, …) */
  ready(loaded: Loaded): object;
  /** one request's answer: a "result" message */
  run(loaded: Loaded, req: Request): Promise<object>;
  release(loaded: Loaded): Promise<void>;
  /** undoes what a failed open left behind (an unsealed TensorRT engine build) */
  openFailed?(): void;
  /** a message taken at once instead of queued (a detector's camera filter); true when it was one */
  immediate?(msg: { type: string }): boolean;
}

/**
 * The loop every model worker runs: open the model and say "ready" (or "failed" and end), then answer requests
 * one at a time, in arrival order: the session and its input buffers are single. "close" releases the session
 * after the requests queued before it, says "closed" and ends the thread.
 */
export function serveModel<Loaded, Request extends { type: string; id: number }>(w: ModelWorker<Loaded, Request>): void {
  const port = parentPort!;
  const send = (msg: object): void => port.postMessage(msg);
  void (async () => {
    let loaded: Loaded;
    try {
      loaded = await w.open();
    } catch (err) {
      w.openFailed?.();
      send({ type: "failed", error: plainError(err, "EVA_MODEL_INVALID") });
      port.close();
      return;
    }
    send({ type: "ready", ...w.ready(loaded) });
    // Cameras sharing the model post concurrently. The main thread keeps a request queued ahead, so the next
    // one is waiting here when a run ends.
    const inbox: Array<Request | { type: "close" }> = [];
    let draining = false;
    const drain = async () => {
      draining = true;
      for (let msg = inbox.shift(); msg; msg = inbox.shift()) {
        if (msg.type === "close") {
          await w.release(loaded);
          send({ type: "closed" });
          port.close();
          return;
        }
        const req = msg as Request;
        try {
          send(await w.run(loaded, req));
        } catch (err) {
          send({ type: "error", id: req.id, error: plainError(err, "EVA_INFERENCE_FAILED") });
        }
      }
      draining = false;
    };
    port.on("message", (msg: Request | { type: "close" }) => {
      if (w.immediate?.(msg)) return;
      inbox.push(msg);
      if (!draining) void drain();
    });
  })();
}
