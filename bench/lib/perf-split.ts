/**
 * Files the samples of `perf script -F pid,tid,ip,sym,dso` by the kind of work they hit, for
 * bench/cpu-split.ts. Bun's binary has no symbols, so its SHA-256 and AES-GCM loops are found
 * by address: the pages that are busy in a child doing only that (see `hotPages`).
 */

/** One sample: the thread it hit and the code, as `perf script` prints it. */
export interface PerfSample {
  pid: number;
  tid: number;
  ip: number;
  sym: string;
  dso: string;
}

/** Pages (4 KiB, by address) of Bun's own code known to do one job. */
export interface KnownCode {
  sha: ReadonlySet<number>;
  aes: ReadonlySet<number>;
}

export const CATEGORIES = ["kernel", "sha", "aes", "copy", "js", "runtime", "threads"] as const;
export type Category = (typeof CATEGORIES)[number];

/** How each category reads in the table. */
export const CATEGORY_TEXT: Record<Category, string> = {
  kernel: "kernel: system calls, page cache, TCP",
  sha: "SHA-256 (Bun's native loop)",
  aes: "TLS encryption (AES-GCM)",
  copy: "memcpy / memset (libc)",
  js: "JIT-compiled JS (A: mostly FastCDC)",
  runtime: "Bun and JSC native code on the JS thread",
  threads: "other threads: JIT compiler, GC, I/O pool",
};

/** What the issue counts as the floor's kind of work: hashing, system calls, TLS. */
export const FLOOR_KINDS: readonly Category[] = ["kernel", "sha", "aes"];

const PAGE = 4096;
const LINE = /^\s*(\d+)\/(\d+)\s+([0-9a-f]+)\s+(.*?)\s*\(([^()]*)\)\s*$/;

export function parsePerfScript(text: string): PerfSample[] {
  const samples: PerfSample[] = [];
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    samples.push({ pid: Number(m[1]), tid: Number(m[2]), ip: Number.parseInt(m[3]!, 16), sym: m[4]!, dso: m[5]! });
  }
  return samples;
}

const isBun = (s: PerfSample) => /\/bun(\.exe)?$/.test(s.dso);

/** The pages of Bun's binary that hold at least `share` of `samples` each. */
export function hotPages(samples: readonly PerfSample[], share: number): Set<number> {
  const counts = new Map<number, number>();
  for (const s of samples) {
    if (!isBun(s)) continue;
    const page = Math.floor(s.ip / PAGE);
    counts.set(page, (counts.get(page) ?? 0) + 1);
  }
  return new Set([...counts].filter(([, n]) => n >= share * samples.length).map(([page]) => page));
}

export function categorize(s: PerfSample, code: KnownCode): Category {
  if (s.dso === "[kernel.kallsyms]") return "kernel";
  if (isBun(s)) {
    const page = Math.floor(s.ip / PAGE);
    if (code.sha.has(page)) return "sha";
    if (code.aes.has(page)) return "aes";
  }
  if (s.tid !== s.pid) return "threads";
  if (/libc\.so/.test(s.dso) && /^__(memmove|memcpy|memset)/.test(s.sym)) return "copy";
  if (/^\[JIT\]|perf-\d+\.map$/.test(s.dso)) return "js";
  return "runtime";
}

/** Samples of process `pid` (all its threads) per category. */
export function splitOf(samples: readonly PerfSample[], pid: number, code: KnownCode): Record<Category, number> {
  const split = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  for (const s of samples) if (s.pid === pid) split[categorize(s, code)]++;
  return split;
}

export function total(split: Record<Category, number>): number {
  return CATEGORIES.reduce((sum, c) => sum + split[c], 0);
}
