import * as fs from "node:fs";

/**
 * Open-file limits (RLIMIT_NOFILE) of the bench and its server: every TCP session is a file
 * descriptor on each side, and the usual soft limit (1024) stops W6 long before its 10,000.
 * Bun 1.4.5 raises its own soft limit to the hard one at start (measured: `ulimit -Sn 1024`,
 * then /proc/self/limits in bun says 20000 of 20000), so a bun-run server needs nothing; a
 * build that does not is raised from outside with util-linux `prlimit`, which an unprivileged
 * user may do on their own processes up to the hard limit. The hard limit itself only root
 * (or systemd's `LimitNOFILE=`) can raise.
 */
export interface OpenFileLimit {
  soft: number;
  hard: number;
}

/** The limit of process `pid` ("self" for this one), from /proc; Infinity for "unlimited". */
export function openFileLimit(pid: number | "self" = "self"): OpenFileLimit | undefined {
  try {
    const line = fs.readFileSync(`/proc/${pid}/limits`, "utf8").match(/^Max open files\s+(\S+)\s+(\S+)/m);
    if (!line) return undefined;
    const value = (v: string) => (v === "unlimited" ? Number.POSITIVE_INFINITY : Number(v));
    return { soft: value(line[1]!), hard: value(line[2]!) };
  } catch {
    return undefined;
  }
}

/**
 * Raises `pid`'s soft limit towards `want`, as far as its hard limit allows, and returns the
 * limit it then has (undefined where /proc cannot tell: not Linux).
 */
export function raiseOpenFiles(pid: number | "self", want: number): OpenFileLimit | undefined {
  const now = openFileLimit(pid);
  if (!now || now.soft >= want) return now;
  const soft = Math.min(want, now.hard);
  const target = pid === "self" ? process.pid : pid;
  Bun.spawnSync(["prlimit", "--pid", String(target), `--nofile=${soft}:${Number.isFinite(now.hard) ? now.hard : "unlimited"}`], { stdout: "ignore", stderr: "ignore" });
  return openFileLimit(pid);
}
