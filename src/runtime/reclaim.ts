import type { Reclaim } from "./types.ts";

/**
 * Collects garbage after bulk byte traffic. Block buffers live outside the JS heap, and
 * JavaScriptCore paces its collector by heap growth: while a big file streams through, dead
 * buffers pile up by tens of MiB before a collection runs, and the allocator keeps the pages.
 * Measured on a 1 GiB transfer through a bare socket: ~100 MiB peak RSS without this, ~50 MiB
 * with a synchronous collection every 8–16 MiB; a collection takes 5–10 ms in a client or the
 * server. Most bulk buffers are now freed as soon as they are done with (core/release.ts),
 * so a collection runs only once the process has grown past RSS_BUDGET (an idle server or
 * client is ~60 MiB, ~45 of them Bun's own mapped binary): W2 spent about a tenth of every
 * process's CPU collecting every 8 MiB, mostly nothing. Collections are rationed to a tenth of
 * wall time, so a process with a large live heap (an index of 100,000 files) does not spend its
 * time collecting.
 */
const EVERY_BYTES = 8 * 1024 * 1024;
/**
 * Resident memory below which a collection would give back too little to be worth its time.
 * At 80 MiB the server sat just above it through W2 (~90 MiB: its write batch, the send window
 * to B, SQLite's cache) and collected every 8 MiB, a tenth of its CPU, for nothing: at 96 its
 * W2 CPU fell by ~10 % and W5's peaks stayed where they were (server 103–106 MiB).
 */
export const RSS_BUDGET = 96 * 1024 * 1024;
/** Collections take at most this share of wall time: the next waits 10× as long as the last took. */
const MAX_GC_SHARE = 1 / 10;

/** The process's CPU time in ms. */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/**
 * A `Reclaim` that runs `collect` (a synchronous full collection) by the rules above; `rss`
 * reads the process's resident memory. A collection's cost is its CPU time, not its wall
 * time: on a loaded machine a 10 ms collection took 100+ ms of wall time, the next one waited
 * ten times that, and 23–39 MiB of garbage piled up meanwhile (W8, load 15).
 */
export function rationedCollector(collect: () => void, rss: () => number, cpu: () => number = cpuMs): Reclaim {
  let sinceLast = 0;
  let notBefore = 0;
  return (bytes) => {
    sinceLast += bytes;
    if (sinceLast < EVERY_BYTES) return;
    const now = performance.now();
    if (now < notBefore) return;
    sinceLast = 0;
    if (rss() < RSS_BUDGET) return;
    const before = cpu();
    collect();
    notBefore = now + (cpu() - before) / MAX_GC_SHARE;
  };
}
