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
