import { dropsimCommand } from "../helpers/spawn-dropsim.ts";
import { waitFor } from "../helpers/wait-for.ts";

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/**
 * One `dropsim sync …` process for tests of how the client starts and stops: its output as
 * lines (stdout and stderr together), its exit code, killed on `await using` exit if it runs.
 */
export class SyncProcess implements AsyncDisposable {
  readonly lines: string[] = [];
  readonly exited: Promise<number>;
  private readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;

  constructor(args: string[], env: Record<string, string> = {}) {
    const clean = { ...process.env, DROPSIM_TOKEN: "", ...env };
    this.proc = Bun.spawn(dropsimCommand(["sync", ...args, "--verbose"]), { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: clean });
    const read = Promise.all([this.collect(this.proc.stdout), this.collect(this.proc.stderr)]);
    this.exited = Promise.all([this.proc.exited, read]).then(([code]) => code);
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const bytes of stream) {
      const parts = (rest + decoder.decode(bytes, { stream: true })).split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts.map((l) => l.replace(ANSI, "")));
    }
    if (rest) this.lines.push(rest.replace(ANSI, ""));
  }

  get output(): string {
    return this.lines.join("\n");
  }

  async waitForLine(re: RegExp, timeout?: number): Promise<string> {
    let found = "";
    await waitFor(`a line matching ${re}`, () => {
      found = this.lines.find((l) => re.test(l)) ?? "";
      return found !== "" || `output so far:\n${this.output}`;
    }, { timeout });
    return found;
  }

  /** The exit code, or a failure naming what it printed if it still runs after `ms`. */
  async exitCode(ms = 15_000): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`dropsim sync still runs after ${ms} ms; it printed:\n${this.output}`)), ms)));
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.exited;
  }
}
