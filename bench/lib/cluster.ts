import * as fs from "node:fs";
import * as path from "node:path";
import { activeBuild } from "./build.ts";
import { raiseOpenFiles } from "./open-files.ts";
import { dropsimCommand, Proc } from "./proc.ts";
import { fetchMetrics, readStatsFile, type Traffic } from "./traffic.ts";
import { type CheckResult, waitFor } from "./wait.ts";
import { type BenchContext, GiB } from "./workload.ts";

/**
 * A server and its clients, started fresh for a run and stopped in `finally`, so that nothing
 * outlives a failed run.
 */
const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;
const METRICS_AT = /Metrics at (http:\/\/\S+\/metrics)/;
const CONNECTED = /Connected to /;
export const IDLE = /Idle: folder and server agree/;
const START_TIMEOUT = 30_000;

export class Server {
  private constructor(
    readonly proc: Proc,
    readonly port: number,
    private readonly readTraffic: () => Promise<Traffic | undefined>,
    /** How clients reach it: `--join LINK` for a build with tokens, else `--server ADDRESS`. */
    readonly clientArgs: readonly string[],
    /** The token of the join link, for bare sessions (bench/lib/wire.ts); none for a build without tokens. */
    readonly token: string | undefined,
    /** It serves TLS: bare sessions must speak it too. */
    readonly tls: boolean,
  ) {}

  /**
   * Starts the active build's server with whichever byte counters it offers; over TLS (clients
   * then pin its certificate from the join link) unless `tls` is false or the build has none:
   * every dropsim row runs as users run it, and plain TCP (`--insecure`) is asked for by name.
   * `openFiles`: its soft open-file limit is raised to this many (at most its hard limit) before
   * anyone connects (open-files.ts).
   */
  static async start(dir: string, tls = activeBuild().tls, extraArgs: readonly string[] = [], opts: { openFiles?: number } = {}): Promise<Server> {
    const data = path.join(dir, "server-data");
    const build = activeBuild();
    if (tls && !build.tls) throw new Error(`Cannot serve TLS with ${build.label}: its serve has no --tls`);
    const args = ["serve", "--host", "127.0.0.1", "--port", "0", "--data", data, ...(build.tls && !tls ? ["--insecure"] : [])];
    const statsFile = path.join(dir, "server-stats.json");
    const metrics = build.traffic === "metrics";
    const proc = new Proc("server", [...args, ...extraArgs, ...(metrics ? ["--http", "127.0.0.1:0"] : ["--stats-file", statsFile])], dir);
    try {
      const port = Number((await proc.waitForLine(LISTENING, { timeout: START_TIMEOUT })).match[1]);
      if (opts.openFiles) raiseOpenFiles(proc.pid, opts.openFiles);
      const link = build.tls ? await joinLink(data) : undefined;
      const join = link ? ["--join", link, ...(tls ? [] : ["--insecure"])] : ["--server", `127.0.0.1:${port}`];
      const token = link ? new URL(link).searchParams.get("token")! : undefined;
      if (!metrics) return new Server(proc, port, async () => readStatsFile(statsFile), join, token, tls);
      const url = (await proc.waitForLine(METRICS_AT, { timeout: START_TIMEOUT })).match[1]!;
      return new Server(proc, port, () => fetchMetrics(url), join, token, tls);
    } catch (e) {
      await proc.stop(1_000);
      throw e;
    }
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The byte counters once they have stopped changing for `quietMs`. */
  async settledTraffic(quietMs = 350, timeout = 30_000): Promise<Traffic> {
    let last = "";
    let since = performance.now();
    await waitFor(
      "the server's byte counters to settle",
      async () => {
        const traffic = await this.readTraffic();
        if (!traffic) return "no counters yet";
        const text = JSON.stringify(traffic);
        if (text !== last) {
          last = text;
          since = performance.now();
        }
        return performance.now() - since >= quietMs ? true : "still changing";
      },
      { timeout, interval: 25 },
    );
    return JSON.parse(last) as Traffic;
  }
}

export interface ClientOptions {
  /** `--verbose`: needed to see "Idle" lines. */
  verbose?: boolean;
  /** `--allow-mass-delete`: the bench deletes a whole synced folder on purpose (W10). */
  allowMassDelete?: boolean;
  /** More `sync` flags for every client (W2's paced link: `--limit-up`, `--limit-down`). */
  extraArgs?: readonly string[];
}

export function clientArgs(folder: string, server: Server, opts: ClientOptions): string[] {
  return [
    "sync",
    folder,
    ...server.clientArgs,
    "--rescan-interval",
    "1h",
    ...(opts.verbose ? ["--verbose"] : []),
    ...(opts.allowMassDelete ? ["--allow-mass-delete"] : []),
    ...(opts.extraArgs ?? []),
  ];
}

/** A read-write token of the share `default`, as the join link `token create` prints (with the certificate's fingerprint when served over TLS). */
async function joinLink(dataDir: string): Promise<string> {
  const proc = Bun.spawn(dropsimCommand(["token", "create", "--data", dataDir, "--share", "default", "--json"]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`token create failed (${code}): ${err}`);
  return (JSON.parse(out) as { join: string }).join;
}

/** Starts `dropsim sync` and waits until it is connected. */
export async function startClient(name: string, folder: string, server: Server, opts: ClientOptions = {}): Promise<Proc> {
  fs.mkdirSync(folder, { recursive: true });
  const proc = new Proc(name, clientArgs(folder, server, opts), path.dirname(folder));
  try {
    await proc.waitForLine(CONNECTED, { timeout: START_TIMEOUT });
    return proc;
  } catch (e) {
    await proc.stop(1_000);
    throw e;
  }
}

/**
 * Waits until every (verbose) client's last line says it is idle and none has printed
 * anything for `quietMs`: the watcher's own echo of a write arrives some 50 ms after it.
 */
export async function waitIdle(procs: readonly Proc[], opts: { quietMs?: number; timeout?: number } = {}): Promise<void> {
  const quietMs = opts.quietMs ?? 150;
  await waitFor(
    `${procs.map((p) => p.name).join(", ")} to be idle`,
    () => {
      const now = performance.now();
      for (const p of procs) {
        const state = stateLine(p);
        if (!IDLE.test(state)) return `${p.name}: last line "${state}"`;
        if (now - p.lastOutputAt < quietMs) return `${p.name}: printed ${(now - p.lastOutputAt).toFixed(0)} ms ago`;
      }
      return true;
    },
    {
      timeout: opts.timeout ?? 60_000,
      interval: 10,
      abortIf: () => procs.map((p) => p.exitReason()).find((r) => r !== undefined),
    },
  );
}

/**
 * A "(repeated N times)" line closes a fold window a second after its message was first said
 * (src/core/log.ts), so it can land after lines said later: W3's A ended on "Uploaded 1 file
 * (repeated 1 time)" printed after its "Idle", and waitIdle waited for nothing.
 */
const FOLDED = / \(repeated \d+ times?\)$/;

/**
 * The line that tells a client's state now: the last one, skipping the fold summaries of other
 * messages. A folded "Idle" counts as idle, or a wait whose Idle was folded would never end; its
 * last saying may come before a line printed ahead of the summary, which the quiet period and
 * the caller's own check (B holds the file) cover.
 */
function stateLine(p: Proc): string {
  for (let i = p.lineCount - 1; i >= Math.max(0, p.lineCount - 50); i--) {
    const text = p.findLine(/^/, i)?.text ?? "";
    if (!FOLDED.test(text) || IDLE.test(text)) return text;
  }
  return p.lastLine;
}

/** A server with clients A and B, each on its own folder: what W1–W5 measure. */
export interface Cluster {
  server: Server;
  clientA: Proc;
  clientB: Proc;
  folderA: string;
  folderB: string;
  /** Server, A, B. */
  procs: readonly [Proc, Proc, Proc];
  /** Why one of them has exited, if one has: the `abortIf` of every wait on them. */
  exited(): string | undefined;
}

/**
 * Starts a server in `dir` with clients A and B on `dir/A` and `dir/B` and runs `body`. All
 * three are stopped and `dir` removed however it ends; on failure their logs are printed
 * first, as the reason is usually in them.
 */
export async function withCluster<T>(ctx: BenchContext, dir: string, opts: ClientOptions & { tls?: boolean }, body: (cluster: Cluster) => Promise<T>): Promise<T> {
  const folderA = path.join(dir, "A");
  const folderB = path.join(dir, "B");
  let server: Server | undefined;
  let clientA: Proc | undefined;
  let clientB: Proc | undefined;
  try {
    server = await Server.start(dir, opts.tls);
    [clientA, clientB] = await Promise.all([startClient("A", folderA, server, opts), startClient("B", folderB, server, opts)]);
    const procs = [server.proc, clientA, clientB] as const;
    return await body({ server, clientA, clientB, folderA, folderB, procs, exited: () => procs.map((p) => p.exitReason()).find(Boolean) });
  } catch (e) {
    for (const p of [server?.proc, clientA, clientB]) if (p) ctx.progress(`log of ${p.name}:\n${p.logs()}`);
    throw e;
  } finally {
    await stopAll([clientA, clientB, server?.proc]);
    rmrf(dir);
  }
}

/** A `waitFor` check that B's `file` has all `size` bytes: clients write by rename, so the size means the whole file. */
export function bHolds(file: string, size: number): () => CheckResult {
  return () => {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    return st?.size === size ? true : `B has ${st ? `${st.size} bytes` : "nothing"}`;
  };
}

/** Stops processes in parallel, ignoring failures: used in `finally`. */
export async function stopAll(procs: readonly (Proc | undefined)[]): Promise<void> {
  await Promise.allSettled(procs.filter((p): p is Proc => p !== undefined).map((p) => p.stop()));
}

export function rmrf(target: string): void {
  fs.rmSync(target, { recursive: true, force: true });
}

/** Flushes dirty pages so that a timed section does not pay for the writeback of its setup. */
export function syncDisks(): void {
  Bun.spawnSync(["sync"]);
}

/** Fails workload `id` before it starts if its folder has less than `need` bytes free. */
export function requireFree(ctx: BenchContext, id: string, need: number): void {
  const st = fs.statfsSync(ctx.dir);
  if (Number(st.bavail) * Number(st.bsize) < need) throw new Error(`${id} needs ${(need / GiB).toFixed(1)} GiB free in ${ctx.dir}`);
}

/**
 * Creates `dir/stage`, where files are written before being renamed into a client's folder:
 * the same disk, so the rename that starts a clock is instant and the writing is never timed.
 */
export function stageFolder(dir: string): string {
  const stage = path.join(dir, "stage");
  fs.mkdirSync(stage);
  return stage;
}
