import * as path from "node:path";
import type { Steps } from "./steps.ts";

/**
 * What the machine itself pays to read and to hash the same file: the floor issue 14 reads
 * dropsim's CPU per GiB against. `sha256sum` is one hashing pass (dropsim makes three: sender,
 * server, receiver), `cat > /dev/null` one read through the page cache.
 */
export interface Floor {
  /** CPU seconds of `sha256sum FILE`. */
  sha256sum: number;
  /** CPU seconds of `cat FILE > /dev/null`. */
  cat: number;
}

/**
 * The CPU per GiB of each step of W2 on its own (bench/lib/steps.ts), over `bytes` of random
 * data, measured in a child process so that the figures are its CPU alone.
 */
export function measureSteps(bytes: number, dir: string): Steps {
  const r = Bun.spawnSync([process.execPath, path.join(import.meta.dir, "steps.ts"), String(bytes), dir], { stdout: "pipe", stderr: "pipe" });
  if (!r.success) throw new Error(`bench/lib/steps.ts failed: ${r.stderr.toString().trim()}`);
  return JSON.parse(r.stdout.toString()) as Steps;
}

export function measureFloor(file: string): Floor {
  // Read once first, so that neither figure pays for bringing the file into the page cache.
  cpuSecondsOf(["cat", file]);
  return { sha256sum: cpuSecondsOf(["sha256sum", file]), cat: cpuSecondsOf(["cat", file]) };
}

/** User + system CPU seconds of running `argv` to its end, its output thrown away. */
function cpuSecondsOf(argv: readonly string[]): number {
  const r = Bun.spawnSync([...argv], { stdout: "ignore", stderr: "pipe" });
  if (!r.success) throw new Error(`${argv.join(" ")} failed: ${r.stderr.toString().trim()}`);
  const cpu = r.resourceUsage.cpuTime;
  return Number(cpu.user + cpu.system) / 1e6;
}
