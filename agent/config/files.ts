import { open, stat } from "node:fs/promises";

// Files a config points at (models, labels, TLS certificates) are looked at without ever blocking the agent:
// stat first, and only a regular file is opened, by the thread pool. A FIFO or a device opened on the main
// thread would freeze /healthz, commands and every camera until something wrote to it.

/** Why `file` is not a regular readable file, or null when it is. `what` names it in the message. */
export async function regularFileProblem(file: string, what = "file"): Promise<string | null> {
  try {
    const st = await stat(file);
    if (st.isDirectory()) return `${file} is a folder, not a ${what}`;
    if (!st.isFile()) return `${file} is not a regular file (a FIFO, socket or device cannot be a ${what})`;
    const fh = await open(file, "r");
    await fh.close();
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") return `${what} not found: ${file}`;
    if (e.code === "EACCES") return `${file}: permission denied`;
    return `${file}: ${e.message}`;
  }
}
