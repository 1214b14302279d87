import { watch, type FSWatcher } from "node:fs";
import path from "node:path";

export interface ConfigWatcher {
  close(): void;
}

/**
 * Calls `onChange` once a burst of changes to `file` has settled. Watches the folder, not the file: editors
 * that save by writing a temp file and renaming it over the original (vim's backupcopy, VS Code, sed -i)
 * replace the inode a file watch would follow, while the folder sees every rename by name.
 */
export function watchConfigFile(file: string, onChange: () => void, opts: { debounceMs?: number; onError?: (err: Error) => void } = {}): ConfigWatcher {
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  const debounceMs = opts.debounceMs ?? 300;
  let timer: NodeJS.Timeout | null = null;
  const watcher: FSWatcher = watch(dir, { persistent: false }, (_event, name) => {
    // Some platforms give no name; then any change in the folder may be ours.
    if (name && name.toString() !== base) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, debounceMs);
  });
  // A watch error (the folder removed, too many watches) must not crash the agent; SIGHUP still reloads.
  watcher.on("error", (err) => opts.onError?.(err));
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}
