import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { Socket } from "bun";
import { ClientProcess, type DropsimProcess, dumpLogs, firstUnexpectedExit, type ServerProcess, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { sha256, snapshotTree, writeFile } from "../helpers/tree.ts";
import { type CheckResult, waitFor } from "../helpers/wait-for.ts";
import { SendQueue } from "../helpers/wire-frames.ts";

/** Resident memory of a process in MiB, from /proc (Linux). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`No VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Samples a process's RSS every few milliseconds and remembers the peak. */
export class RssSampler {
  peak = 0;
  private timer: ReturnType<typeof setInterval>;
  constructor(private readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 20);
  }
  sample(): number {
    try {
      const now = rssMiB(this.pid);
      if (now > this.peak) this.peak = now;
      return now;
    } catch {
      return this.peak;
    }
  }
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/** Every path under `root` (files and folders), relative, sorted. */
export async function listAll(root: string): Promise<string[]> {
  const items = await fsp.readdir(root, { recursive: true }).catch(() => [] as string[]);
  return items.map((p) => p.split(path.sep).join("/")).sort();
}

export function sha256File(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/**
 * A server whose working directory is an otherwise empty sandbox (`sandbox/a/b/c`, data in
 * `sandbox/a/b/c/data`): any path the server resolved against its cwd or data dir, `../..`
 * included, would land inside `sandbox/` and be seen. Two normal clients, A and B, stay
 * connected throughout and must keep syncing whatever else the server is sent.
 */
export class HostileRig implements AsyncDisposable {
  baselineRss = 0;
  private constructor(
    readonly root: TempDir,
    readonly server: ServerProcess,
    readonly a: ClientProcess,
    readonly b: ClientProcess,
    /** The server speaks TLS (its clients pin the certificate it printed), or plain TCP with --insecure on both sides. */
    readonly tls: boolean,
  ) {}

  static async start(opts: { tls: boolean }): Promise<HostileRig> {
    const root = await tempDir("dropsim-hostile-");
    const cwd = root.join("sandbox", "a", "b", "c");
    await fsp.mkdir(cwd, { recursive: true });
    const server = await startServer({ dataDir: path.join(cwd, "data"), extraArgs: opts.tls ? [] : ["--insecure"] });
    const pin = opts.tls ? ["--fingerprint", (await server.waitForLine(/Fingerprint: (SHA256:[0-9a-f]{64})/))[1]!] : ["--insecure"];
    const extraArgs = ["--rescan-interval", "1h", "--verbose", ...pin];
    const a = startClient({ folder: root.join("A"), server: server.address, name: "A", extraArgs });
    const b = startClient({ folder: root.join("B"), server: server.address, name: "B", extraArgs });
    const rig = new HostileRig(root, server, a, b, opts.tls);
    try {
      await rig.stillSyncing("warm-up");
      rig.baselineRss = rssMiB(server.pid!);
    } catch (e) {
      dumpLogs(rig.processes);
      await rig[Symbol.asyncDispose]();
      throw e;
    }
    return rig;
  }

  get processes(): DropsimProcess[] {
    return [this.server, this.a, this.b];
  }

  get dataDir(): string {
    return this.root.join("sandbox", "a", "b", "c", "data");
  }

  waitFor(what: string, check: () => CheckResult | Promise<CheckResult>, timeout = 30_000): Promise<void> {
    return waitFor(what, check, { timeout, abortIf: () => firstUnexpectedExit(this.processes) });
  }

  /** A new file written on A reaches B, and one written on B reaches A. */
  async stillSyncing(tag: string): Promise<void> {
    const name = `alive-${tag}-${crypto.randomUUID().slice(0, 8)}.txt`;
    const fromA = `from A after ${tag}\n`;
    const fromB = `from B after ${tag}\n`;
    await writeFile(this.a.folder, `a-${name}`, fromA);
    await writeFile(this.b.folder, `b-${name}`, fromB);
    await this.waitFor(`the files written after "${tag}" to cross between A and B`, async () => {
      const [ta, tb] = await Promise.all([snapshotTree(this.a.folder), snapshotTree(this.b.folder)]);
      if (tb.get(`a-${name}`) !== sha256(fromA)) return `B lacks a-${name}`;
      if (ta.get(`b-${name}`) !== sha256(fromB)) return `A lacks b-${name}`;
      return true;
    });
  }

  /** Nothing appeared in the sandbox except the data dir. */
  async assertSandboxClean(): Promise<void> {
    const stray = (await listAll(this.root.join("sandbox"))).filter((p) => !["a", "a/b", "a/b/c", "a/b/c/data"].includes(p) && !p.startsWith("a/b/c/data/"));
    if (stray.length > 0) throw new Error(`The server wrote outside its data dir: ${stray.join(", ")}`);
  }

  /** Server lines printed so far (for counting what one case added). */
  serverLineCount(): number {
    return this.server.logs().split("\n").length;
  }

  serverLinesSince(mark: number): string[] {
    return this.server.logs().split("\n").slice(mark);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await Promise.all(this.processes.map((p) => p[Symbol.asyncDispose]()));
    } finally {
      await this.root.remove();
    }
  }
}

/**
 * A socket that never reads: what it is sent piles up in the kernel and then in the peer.
 * Writes are queued and pushed as the kernel takes them.
 */
export class DeafSocket {
  closed = false;
  private readonly outbox = new SendQueue((bytes) => this.socket.write(bytes), () => this.closed);
  private constructor(private socket: Socket<undefined>) {}

  /** Over TLS it reads until the handshake is done, and nothing after. */
  static async open(port: number, opts: { tls?: boolean } = {}): Promise<DeafSocket> {
    let me: DeafSocket | undefined;
    const shaken = Promise.withResolvers<void>();
    const socket = await Bun.connect<undefined>({
      hostname: "127.0.0.1",
      port,
      tls: opts.tls ? { rejectUnauthorized: false } : undefined,
      socket: {
        open: (s) => void (opts.tls || s.pause()),
        handshake: (s) => {
          s.pause();
          shaken.resolve();
        },
        data: () => {},
        drain: () => me?.outbox.flush(),
        close: () => {
          if (me) me.closed = true;
        },
        error: () => {
          if (me) me.closed = true;
        },
      },
    });
    if (opts.tls) await shaken.promise;
    me = new DeafSocket(socket);
    socket.pause();
    return me;
  }

  get unsent(): number {
    return this.outbox.unsent;
  }

  write(bytes: Uint8Array): void {
    this.outbox.write(bytes);
  }

  close(): void {
    if (!this.closed) this.socket.terminate();
    this.closed = true;
  }
}
