import type { Subprocess } from "bun";
import * as fs from "node:fs";
import * as os from "node:os";
import { activeBuild } from "./build.ts";
import { waitFor } from "./wait.ts";

/**
 * Real dropsim processes for the benchmarks. Output is always drained (a full pipe would stall
 * the process being measured) and the recent lines are kept, timestamped, for waits and for
 * the dump printed when a workload fails. Every process is registered so that it is killed
 * even when the bench itself dies.
 */
const KEEP_LINES = 5_000;
/** sysconf(_SC_CLK_TCK): 100 on every Linux we run on. */
const CLOCK_TICKS = 100;

/** The argv that runs the active build's dropsim with `args`. */
export function dropsimCommand(args: readonly string[]): string[] {
  return [...activeBuild().command, ...args];
}

/** Starts counting the CPU time of `procs`; the returned function gives each one's seconds since (NaN once gone). */
export function cpuMeter(procs: readonly Proc[]): () => number[] {
  const start = procs.map((p) => p.cpuSeconds() ?? Number.NaN);
  return () => procs.map((p, i) => (p.cpuSeconds() ?? Number.NaN) - start[i]!);
}

const live = new Set<Proc>();

/** SIGKILLs every process still running; safe to call from an exit handler. */
export function killAll(): void {
  for (const p of live) p.killNow();
  live.clear();
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

export interface Line {
  at: number;
  text: string;
}

export class Proc implements AsyncDisposable {
  private readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  private readonly pumps: Promise<void>[];
  private lines: Line[] = [];
  /** Lines dropped from the front of `lines` so far (line numbers stay absolute). */
  private dropped = 0;
  lastOutputAt = performance.now();
  readonly startedAt: number;

  constructor(
    readonly name: string,
    args: readonly string[],
    cwd = os.tmpdir(),
  ) {
    this.startedAt = performance.now();
    this.proc = Bun.spawn(dropsimCommand(args), {
      cwd,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    live.add(this);
    this.pumps = [this.pump(this.proc.stdout), this.pump(this.proc.stderr)];
  }

  get pid(): number {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Absolute number of lines printed so far: pass it as `after` to wait for newer lines only. */
  get lineCount(): number {
    return this.dropped + this.lines.length;
  }

  get lastLine(): string {
    return this.lines.at(-1)?.text ?? "";
  }

  /** The first line numbered `after` or later matching `re`, with the time it arrived. */
  findLine(re: RegExp, after = 0): (Line & { match: RegExpMatchArray }) | undefined {
    for (let i = Math.max(0, after - this.dropped); i < this.lines.length; i++) {
      const m = this.lines[i]!.text.match(re);
      if (m) return { ...this.lines[i]!, match: m };
    }
    return undefined;
  }

  async waitForLine(re: RegExp, opts: { timeout: number; after?: number }): Promise<Line & { match: RegExpMatchArray }> {
    let found: (Line & { match: RegExpMatchArray }) | undefined;
    await waitFor(
      `${this.name} to print a line matching ${re}`,
      () => ((found = this.findLine(re, opts.after)) ? true : `last line: ${this.lastLine || "(none)"}`),
      { timeout: opts.timeout, interval: 5, abortIf: () => this.exitReason() },
    );
    return found!;
  }

  /** Why the process is gone, if it is. */
  exitReason(): string | undefined {
    if (this.running) return undefined;
    return `${this.name} exited (${this.proc.signalCode ?? `code ${this.proc.exitCode}`})`;
  }

  /** A field of /proc/PID/status in KiB (VmHWM = peak RSS, VmRSS = current RSS). */
  statusKiB(field: "VmHWM" | "VmRSS"): number | undefined {
    try {
      const status = fs.readFileSync(`/proc/${this.pid}/status`, "utf8");
      const m = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** User + system CPU seconds used so far (from /proc/PID/stat); undefined once it is gone. */
  cpuSeconds(): number | undefined {
    try {
      const stat = fs.readFileSync(`/proc/${this.pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      return undefined;
    }
  }

  logs(tail = 40): string {
    return this.lines
      .slice(-tail)
      .map((l) => `  ${((l.at - this.startedAt) / 1000).toFixed(3).padStart(8)} ${this.name}| ${l.text}`)
      .join("\n");
  }

  /**
   * For a command that ends by itself: resolves once it has exited and its output is drained,
   * with the moment it exited (call this right after starting it, or that moment comes late),
   * its exit code (null if killed), and its peak RSS in KiB: the kernel's rusage maxrss, the same
   * high-water mark as VmHWM, which polling /proc would miss at the very end of a short life.
   */
  async finished(): Promise<{ at: number; code: number | null; peakKiB: number | undefined }> {
    await this.proc.exited;
    const at = performance.now();
    await Promise.all(this.pumps);
    live.delete(this);
    const usage = this.proc.resourceUsage();
    return { at, code: this.proc.exitCode, peakKiB: usage ? usage.maxRSS / 1024 : undefined };
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.running) {
      this.proc.kill("SIGTERM");
      const timer = setTimeout(() => this.killNow(), graceMs);
      await this.proc.exited;
      clearTimeout(timer);
    }
    await Promise.all(this.pumps);
    live.delete(this);
  }

  killNow(): void {
    if (this.running) this.proc.kill("SIGKILL");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    const add = (text: string) => {
      const clean = text.replace(ANSI, "").replace(/\r$/, "");
      if (clean.trim() === "") return;
      this.lastOutputAt = performance.now();
      this.lines.push({ at: this.lastOutputAt, text: clean });
      if (this.lines.length > KEEP_LINES * 2) {
        this.dropped += this.lines.length - KEEP_LINES;
        this.lines = this.lines.slice(-KEEP_LINES);
      }
    };
    try {
      for await (const chunk of stream) {
        pending += decoder.decode(chunk, { stream: true });
        let nl = pending.indexOf("\n");
        while (nl >= 0) {
          add(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          nl = pending.indexOf("\n");
        }
      }
    } catch {
      // The process is gone; what it printed is kept.
    }
    add(pending + decoder.decode());
  }
}
