import type { Subprocess } from "bun";
import { existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULT_DEADLINE_MS, waitFor } from "./wait-for.ts";

/**
 * Real dropsim processes for end-to-end tests. Each one keeps everything it printed (stdout
 * and stderr, timestamped) so that a failing test can show what the processes were doing.
 *
 * `DROPSIM_BIN=/path/to/dropsim` runs that executable instead of `bun src/main.ts`, so the
 * same suites check the compiled standalone binary. `DROPSIM_E2E_LOGS=1` echoes every line
 * live; `DROPSIM_E2E_LOG_TAIL` sets how many lines per process a failure dump shows.
 * `DROPSIM_TEST_STORE=memory` starts servers on `--data memory:` (suites that restart a server
 * or read its data dir need the default, `dir`).
 *
 * Every server gets a read-write token of the share `default` (made with `dropsim token create`,
 * or read from what a `memory:` server prints), and clients are started with it.
 */
export const REPO_ROOT = path.resolve(import.meta.dir, "../..");
const MAIN = path.join(REPO_ROOT, "src", "main.ts");
const STOP_GRACE_MS = 5_000;
const T0 = performance.now();

/** The argv that runs dropsim with `args`. */
export function dropsimCommand(args: readonly string[]): string[] {
  const bin = process.env.DROPSIM_BIN;
  return bin ? [path.resolve(bin), ...args] : [process.execPath, MAIN, ...args];
}

const registry = new Set<DropsimProcess>();

// If the test runner itself goes away (a crash, Ctrl-C), no dropsim process outlives it.
process.on("exit", () => {
  for (const p of registry) p.killNow();
});

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

export interface ProcessOptions {
  /** Short label used in log dumps, e.g. "server" or "A". */
  name: string;
  cwd?: string;
  env?: Record<string, string>;
}

/** One dropsim process that can be stopped, killed and started again with the same arguments. */
export class DropsimProcess implements AsyncDisposable {
  readonly name: string;
  private proc: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  private readonly lines: string[] = [];
  /** Index in `lines` where the current run's output starts. */
  private runStart = 0;
  private runs = 0;
  /** Lines already shown by `dumpLogs`, so repeated failures print only what is new. */
  private dumped = 0;
  private stopping = false;
  private pumps: Promise<void>[] = [];
  /** Set when the process ended without being asked to. */
  unexpectedExit: string | undefined;

  constructor(
    private args: string[],
    private readonly opts: ProcessOptions,
  ) {
    this.name = opts.name;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Replaces the arguments used by the next `start`/`restart`. */
  protected setArgs(args: string[]): void {
    this.args = args;
  }

  start(): void {
    if (this.running) throw new Error(`Cannot start ${this.name}: it is already running (pid ${this.proc!.pid})`);
    registry.add(this);
    this.stopping = false;
    this.unexpectedExit = undefined;
    this.runs++;
    this.runStart = this.lines.length;
    const cmd = dropsimCommand(this.args);
    this.note(`$ ${cmd.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(" ")}  (run ${this.runs})`);
    const proc = Bun.spawn(cmd, {
      cwd: this.opts.cwd ?? os.tmpdir(),
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...this.opts.env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.proc = proc;
    this.pumps = [this.pump(proc.stdout, "out"), this.pump(proc.stderr, "err")];
    void proc.exited.then((code) => {
      const how = proc.signalCode ? `signal ${proc.signalCode}` : `code ${code}`;
      this.note(`exited with ${how}`);
      if (!this.stopping) this.unexpectedExit = `${this.name} (pid ${proc.pid}) exited unexpectedly with ${how}`;
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves with the exit code. */
  async stop(graceMs = STOP_GRACE_MS): Promise<number | null> {
    const proc = this.proc;
    if (!proc) return null;
    this.stopping = true;
    if (this.running) {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (proc.exitCode === null && proc.signalCode === null) {
          this.note(`did not exit within ${graceMs} ms of SIGTERM: sending SIGKILL`);
          proc.kill("SIGKILL");
        }
      }, graceMs);
      try {
        await proc.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    await Promise.all(this.pumps);
    return proc.exitCode;
  }

  /** SIGKILL: a crash, no chance to clean up. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.stopping = true;
    if (this.running) proc.kill("SIGKILL");
    await proc.exited;
    await Promise.all(this.pumps);
  }

  async restart(): Promise<void> {
    await this.stop();
    this.start();
  }

  /** SIGKILL without waiting: for exit handlers, where nothing can be awaited. */
  killNow(): void {
    this.stopping = true;
    if (this.running) this.proc!.kill("SIGKILL");
  }

  /** Waits for a line of the current run matching `re`; fails early if the process exits. */
  async waitForLine(re: RegExp, timeout = DEFAULT_DEADLINE_MS): Promise<RegExpMatchArray> {
    let found: RegExpMatchArray | undefined;
    await waitFor(
      `${this.name} to print a line matching ${re}`,
      () => {
        for (let i = this.runStart; i < this.lines.length; i++) {
          const m = this.lines[i]!.match(re);
          if (m) {
            found = m;
            return true;
          }
        }
        return `output of this run so far:\n${this.lines.slice(this.runStart).slice(-30).join("\n") || "(nothing)"}`;
      },
      { timeout, abortIf: () => (this.running ? undefined : `${this.name} is not running`) },
    );
    return found!;
  }

  /** Lines not yet shown by an earlier dump (at most `tail`), marking the dump as done. */
  takeUndumped(tail: number): string {
    const fresh = this.lines.length - this.dumped;
    const shown = Math.min(fresh, tail);
    const head = this.dumped > 0 ? `  (${this.dumped} lines shown in an earlier dump)\n` : "";
    const skipped = fresh > shown ? `  … ${fresh - shown} lines\n` : "";
    this.dumped = this.lines.length;
    return head + skipped + this.lines.slice(this.lines.length - shown).join("\n");
  }

  /** Everything printed so far, most recent `tail` lines. */
  logs(tail = Number.POSITIVE_INFINITY): string {
    const start = Math.max(0, this.lines.length - tail);
    return (start > 0 ? `  … ${start} earlier lines\n` : "") + this.lines.slice(start).join("\n");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.stop(2_000);
    } finally {
      registry.delete(this);
    }
  }

  private note(text: string): void {
    this.add("--", text);
  }

  private add(stream: string, text: string): void {
    const line = `${((performance.now() - T0) / 1000).toFixed(3).padStart(8)} ${this.name.padEnd(6)} ${stream}| ${text.replace(ANSI, "")}`;
    this.lines.push(line);
    if (process.env.DROPSIM_E2E_LOGS) console.error(line);
  }

  private async pump(stream: ReadableStream<Uint8Array>, tag: string): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    try {
      for await (const chunk of stream) {
        pending += decoder.decode(chunk, { stream: true });
        let nl = pending.indexOf("\n");
        while (nl >= 0) {
          const line = pending.slice(0, nl).replace(/\r$/, "");
          if (line.trim() !== "") this.add(tag, line);
          pending = pending.slice(nl + 1);
          nl = pending.indexOf("\n");
        }
      }
    } catch (e) {
      this.note(`could not read ${tag}: ${(e as Error).message}`);
    }
    pending += decoder.decode();
    if (pending) this.add(tag, pending);
  }
}

/** Where test servers keep their stores: `DROPSIM_TEST_STORE=memory` runs suites against the in-memory backend. */
export type TestStore = "dir" | "memory";

function defaultStore(): TestStore {
  const v = process.env.DROPSIM_TEST_STORE ?? "dir";
  if (v !== "dir" && v !== "memory") throw new Error(`DROPSIM_TEST_STORE must be "dir" or "memory", not "${v}"`);
  return v;
}

export interface ServerOptions {
  /** The data dir; with the memory store only its parent is used, as the working directory. */
  dataDir: string;
  /** Default from `DROPSIM_TEST_STORE`, else "dir". A memory server starts empty at each start. */
  store?: TestStore;
  /** 0 (default) picks a free port; `restart` then reuses the port it got. */
  port?: number;
  name?: string;
  extraArgs?: string[];
}

const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;
const MEMORY_TOKEN = /Token for share "default": (dst_\S+)/;

/** The token of each server tests started, by `host:port`: clients and raw connections find theirs here. */
const tokens = new Map<string, string>();

/** For fake servers, which take any token: one of the right shape. */
export const ANY_TOKEN = `dst_000000000000_${"A".repeat(43)}`;

export function serverToken(address: string): string {
  const token = tokens.get(address);
  if (!token) throw new Error(`No token known for a server at ${address}: pass one (a proxy's address is not the server's)`);
  return token;
}

/** `dropsim token create` on a data dir, as an admin would run it: the token's text. */
export async function createToken(dataDir: string, extra: string[] = []): Promise<string> {
  const proc = Bun.spawn(dropsimCommand(["token", "create", "--data", dataDir, "--share", "default", "--json", ...extra]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`dropsim token create failed (${code}): ${err}`);
  return (JSON.parse(out) as { token: string }).token;
}
const METRICS_AT = /Metrics at (http:\/\/\S+\/metrics)/;

/** `dropsim serve` on 127.0.0.1, with `/metrics` on a port of its own. The port found on first start is kept for restarts. */
export class ServerProcess extends DropsimProcess {
  port: number;
  readonly store: TestStore;
  /** Where this run serves its metrics (tests/helpers/metrics.ts reads them). */
  metricsUrl = "";
  /** A read-write token of the share `default`; a `memory:` server has a new one at each start. */
  token = "";

  constructor(private readonly sopts: ServerOptions) {
    const port = sopts.port ?? 0;
    const store = sopts.store ?? defaultStore();
    super(ServerProcess.argv(sopts, store, port), { name: sopts.name ?? "server", cwd: path.dirname(sopts.dataDir) });
    this.port = port;
    this.store = store;
  }

  private static argv(o: ServerOptions, store: TestStore, port: number): string[] {
    const data = store === "memory" ? "memory:" : o.dataDir;
    return ["serve", "--host", "127.0.0.1", "--port", String(port), "--data", data, "--http", "127.0.0.1:0", ...(o.extraArgs ?? [])];
  }

  get dataDir(): string {
    if (this.store === "memory") throw new Error(`Server ${this.name} keeps its stores in memory: it has no data dir`);
    return this.sopts.dataDir;
  }

  /** `host:port` as the client's `--server` option wants it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts and waits until it listens. */
  async launch(): Promise<this> {
    this.setArgs(ServerProcess.argv(this.sopts, this.store, this.port));
    // A data dir made anew (or wiped by a test) holds no token yet.
    const fresh = this.store === "dir" && !existsSync(path.join(this.sopts.dataDir, "access.db"));
    this.start();
    const m = await this.waitForLine(LISTENING);
    const port = Number(m[1]);
    if (this.port !== 0 && port !== this.port) throw new Error(`Server listens on port ${port}, expected ${this.port}`);
    this.port = port;
    this.metricsUrl = (await this.waitForLine(METRICS_AT))[1]!;
    if (this.store === "memory") this.token = (await this.waitForLine(MEMORY_TOKEN))[1]!;
    else if (fresh || !this.token) this.token = await createToken(this.sopts.dataDir);
    tokens.set(this.address, this.token);
    return this;
  }

  /** Graceful stop, then start again on the same port and data dir. */
  override async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }
}

export async function startServer(opts: ServerOptions): Promise<ServerProcess> {
  return new ServerProcess(opts).launch();
}

export interface ClientOptions {
  folder: string;
  /** `host:port` of the server. */
  server: string;
  name: string;
  /** Of the share `default`; by default the token of the server at `server`. */
  token?: string;
  /** Defaults to `--rescan-interval 1h --verbose`: changes must be found by watching, and logs be detailed. */
  extraArgs?: string[];
}

/** `dropsim sync FOLDER --server ADDR --share default --token TOKEN`. */
export class ClientProcess extends DropsimProcess {
  readonly folder: string;

  constructor(opts: ClientOptions) {
    const extra = opts.extraArgs ?? ["--rescan-interval", "1h", "--verbose"];
    const token = opts.token ?? serverToken(opts.server);
    super(["sync", opts.folder, "--server", opts.server, "--share", "default", "--token", token, ...extra], { name: opts.name, cwd: path.dirname(opts.folder) });
    this.folder = opts.folder;
  }
}

export function startClient(opts: ClientOptions): ClientProcess {
  const client = new ClientProcess(opts);
  client.start();
  return client;
}

/** Prints to stderr what `procs` (default: every process not yet disposed) printed since the last dump. */
export function dumpLogs(procs: Iterable<DropsimProcess> = registry, tail = Number(process.env.DROPSIM_E2E_LOG_TAIL ?? 200)): void {
  for (const p of procs) {
    console.error(`\n===== ${p.name} (${p.running ? `running, pid ${p.pid}` : "not running"}) =====\n${p.takeUndumped(tail)}`);
  }
}

/** Wraps a test body so that a failure first dumps every live process's log. */
export function dumpLogsOnFailure(fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await fn();
    } catch (e) {
      dumpLogs();
      throw e;
    }
  };
}

/** The first unexpected exit among `procs`, for `waitFor`'s `abortIf`. */
export function firstUnexpectedExit(procs: Iterable<DropsimProcess>): string | undefined {
  for (const p of procs) if (p.unexpectedExit) return p.unexpectedExit;
  return undefined;
}
