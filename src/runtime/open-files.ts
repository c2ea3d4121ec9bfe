import { readFileSync } from "node:fs";

/**
 * The soft open-file limit (RLIMIT_NOFILE) of this process, where /proc tells it (Linux);
 * undefined elsewhere or when unlimited. Bun raises its soft limit to the hard one as it starts
 * (1.4.5: `ulimit -Sn 1024` → 20000 here), Node and Deno do not, so it is read, not assumed.
 */
export function openFileLimit(): number | undefined {
  try {
    const soft = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1];
    return soft === undefined ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}
