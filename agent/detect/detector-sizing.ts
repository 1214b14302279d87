import { availableParallelism } from "node:os";

export interface DetectorSizing {
  /** sessions (worker threads) per model: used on the CPU provider only */
  workers: number;
  /** intra-op threads per session */
  threads: number;
}

/** More sessions than this per model only add memory: eight cameras at 5 fps keep four small-model sessions busy. */
const MAX_AUTO_WORKERS = 4;

/**
 * Sessions and threads per model from `detector.threads` / `detector.workers` and the cores. Several
 * single-threaded sessions beat one session with several intra-op threads for the small models eva runs: a
 * 416×416 YOLOX-Nano run has too little work per operator to split well, and independent frames need no
 * synchronisation. The cores are shared between the models in use; ffmpeg and the main thread take the slack.
 */
export function detectorSizing(
  cfg: { threads: number | "auto"; workers: number | "auto" },
  models: number,
  cores: number = availableParallelism(),
): DetectorSizing {
  const threads = cfg.threads === "auto" ? 1 : cfg.threads;
  const share = Math.floor(cores / Math.max(1, models) / threads);
  const workers = cfg.workers === "auto" ? Math.min(MAX_AUTO_WORKERS, Math.max(1, share)) : cfg.workers;
  return { workers, threads };
}
