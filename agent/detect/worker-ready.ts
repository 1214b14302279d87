import type { Worker } from "node:worker_threads";
import type { PlainError } from "./detector-protocol.js";
import { DetectorError } from "./detector-error.js";

/** what a model worker posts while it loads */
type Loading = { type: string; error?: PlainError };

/**
 * Waits for a model worker's "ready" (a detector's or a classifier's); `what` names it in errors ("model 'x'").
 * A "failed", an error or an exit while loading terminates the worker and rejects with a DetectorError;
 * `progress` takes the other messages a worker may send while loading (a TensorRT build) and says whether it knew
 * them. Only our own listeners come off afterwards: Worker keeps internal ones that ref its message port.
 */
export function workerReady<Ready extends { type: "ready" }>(worker: Worker, what: string, progress: (msg: Loading) => boolean = () => false): Promise<Ready> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    const fail = (e: DetectorError) => {
      settle();
      void worker.terminate();
      reject(e);
    };
    const onMessage = (msg: Loading) => {
      if (msg.type === "ready") {
        settle();
        resolve(msg as unknown as Ready);
      } else if (msg.type === "failed" && msg.error) fail(DetectorError.from(msg.error));
      else if (!progress(msg)) fail(new DetectorError("EVA_DETECTOR_DIED", `${what}: unexpected '${msg.type}' from the worker while loading`));
    };
    const onError = (err: Error & { code?: string }) => {
      const hint = err.code === "MODULE_NOT_FOUND" || err.code === "ERR_MODULE_NOT_FOUND" ? " (is dist/ built? run `npx tsc`)" : "";
      fail(new DetectorError("EVA_DETECTOR_DIED", `${what}: worker failed to start: ${err.message}${hint}`));
    };
    const onExit = (code: number) => fail(new DetectorError("EVA_DETECTOR_DIED", `${what}: worker exited with code ${code} while loading`));
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}
