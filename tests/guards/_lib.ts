import type { Subprocess } from "bun";
import { existsSync } from "node:fs";
import { dropsimCommand } from "../helpers/spawn-dropsim.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * Tests run as root, and root reads a file whatever its permission bits say: chmod 000 blocks
 * nothing. To see "permission denied", the client runs as an unprivileged user (nobody, via
 * util-linux `setpriv`). When the tests already run unprivileged, no switch is needed.
 */
export const NOBODY = { uid: 65534, gid: 65534 };

export function unprivilegedPrefix(): string[] | undefined {
  if (process.getuid?.() !== 0) return [];
  if (!existsSync("/usr/bin/setpriv")) return undefined;
  return ["/usr/bin/setpriv", `--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, "--clear-groups", "--"];
}

/** `dropsim sync` as an unprivileged user, with its output kept for assertions and failure dumps. */
export class UnprivilegedClient implements AsyncDisposable {
  private proc: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  private lines: string[] = [];
  private pumps: Promise<void>[] = [];
  private stopping = false;
  unexpectedExit: string | undefined;

  constructor(
    private readonly prefix: string[],
    private readonly args: string[],
    private readonly home: string,
  ) {}

  start(): void {
    this.stopping = false;
    const proc = Bun.spawn([...this.prefix, ...dropsimCommand(this.args)], {
      cwd: this.home,
      env: { ...process.env, HOME: this.home, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.proc = proc;
    this.pumps = [this.pump(proc.stdout), this.pump(proc.stderr)];
    void proc.exited.then((code) => {
      if (!this.stopping) this.unexpectedExit = `the unprivileged client exited with ${proc.signalCode ?? `code ${code}`}`;
    });
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  logs(): string {
    return this.lines.join("\n");
  }

  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }

  async waitForLine(re: RegExp, timeout = 30_000): Promise<void> {
    await waitFor(`the unprivileged client to print ${re}`, () => this.lines.some((l) => re.test(l)) || `last lines:\n${this.lines.slice(-10).join("\n")}`, {
      timeout,
      abortIf: () => this.unexpectedExit,
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.stopping = true;
    if (this.running) proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
    await proc.exited;
    clearTimeout(timer);
    await Promise.all(this.pumps);
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop()!;
      for (const l of parts) if (l.trim()) this.lines.push(l);
    }
    if (pending.trim()) this.lines.push(pending);
  }
}
