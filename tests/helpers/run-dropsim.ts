import { dropsimCommand } from "./spawn-dropsim.ts";

/** What a one-shot dropsim command (gc, share set, fsck, …) printed and how it ended. */
export interface CommandResult {
  /** The exit code; null when it was killed for running past its deadline. */
  code: number | null;
  /** stdout and stderr together, for failure messages. */
  output: string;
  stdout: string;
}

/**
 * Runs `dropsim ARGS` to the end, the way an operator would, and SIGKILLs it past `timeout` ms
 * (a command waiting on a server that was killed must not hang the test).
 */
export async function runDropsim(args: readonly string[], opts: { timeout?: number; cwd?: string } = {}): Promise<CommandResult> {
  const proc = Bun.spawn(dropsimCommand(args), {
    cwd: opts.cwd,
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeout ?? 60_000);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code: proc.signalCode ? null : code, output: `${stdout}${stderr}`.trim(), stdout };
  } finally {
    clearTimeout(timer);
  }
}

/** Like `runDropsim`, but a non-zero exit (or a kill) throws with what the command printed. */
export async function dropsimOk(args: readonly string[], opts: { timeout?: number; cwd?: string } = {}): Promise<CommandResult> {
  const r = await runDropsim(args, opts);
  if (r.code !== 0) throw new Error(`dropsim ${args.join(" ")} ${r.code === null ? "was killed at its deadline" : `exited with ${r.code}`}:\n${r.output}`);
  return r;
}
