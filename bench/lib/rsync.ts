/** The `rsync -a` baseline for W1/W2; absent rsync is reported, not fatal. */
export const RSYNC: string | undefined = Bun.which("rsync") ?? undefined;

/** rsync ≥ 3.2.4 can fsync every file it writes: the fair floor for a tool that does (dropsim does). */
export const RSYNC_HAS_FSYNC: boolean = RSYNC !== undefined && Bun.spawnSync([RSYNC, "--help"]).stdout.toString().includes("--fsync");

/** Runs `rsync -a ARGS…` and returns its wall time in ms. */
export async function timeRsync(args: readonly string[]): Promise<number> {
  if (!RSYNC) throw new Error("rsync not installed");
  const started = performance.now();
  const proc = Bun.spawn([RSYNC, "-a", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text(), new Response(proc.stdout).text()]);
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`rsync -a ${args.join(" ")} failed with code ${code}: ${stderr.trim()}`);
  return ms;
}
