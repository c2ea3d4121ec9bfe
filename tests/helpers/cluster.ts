import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ClientProcess, type DropsimProcess, dumpLogs, firstUnexpectedExit, ServerProcess, type TestStore } from "./spawn-dropsim.ts";
import { type TempDir, tempDir } from "./temp-dir.ts";
import { describeTree, diffTrees, STATE_DIR, sha256, snapshotTree, type Tree } from "./tree.ts";
import { type CheckResult, DEFAULT_DEADLINE_MS, waitFor } from "./wait-for.ts";

export interface ClusterOptions {
  /** Client names; each gets its own folder `<root>/<name>`. Default A, B, C. */
  clients?: string[];
  /** Prove every client is connected (each writes a file all others must see) before returning. Default true. */
  warmUp?: boolean;
  /** Extra `sync` arguments; the default is `--rescan-interval 1h --verbose`. */
  clientArgs?: string[];
  /**
   * The address clients are given, from the launched server; default its own. For something
   * between them, such as a fault proxy (tests/helpers/fault-proxy.ts).
   */
  serverAddress?: (server: ServerProcess) => string | Promise<string>;
  /** The server's backend; default from `DROPSIM_TEST_STORE` (tests/helpers/spawn-dropsim.ts). */
  store?: TestStore;
}

export interface SnapshotOptions {
  /** Compare the executable bit too. */
  modes?: boolean;
  /** Only the subtree under this relative folder (paths then relative to it), so one test's trouble stays its own. */
  under?: string;
}

export interface TreeWaitOptions extends SnapshotOptions {
  timeout?: number;
}

/** One server and N clients as separate processes, each in its own folder under one temp dir. */
export class Cluster implements AsyncDisposable {
  readonly clients: ClientProcess[] = [];
  /** Set when `serverAddress` put something in front of the server. */
  private inFront: string | undefined;

  private constructor(
    readonly root: TempDir,
    readonly server: ServerProcess,
    private readonly clientArgs: string[] | undefined,
  ) {}

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const root = await tempDir();
    const cluster = new Cluster(root, new ServerProcess({ dataDir: root.join("server-data"), store: opts.store }), opts.clientArgs);
    try {
      await cluster.server.launch();
      cluster.inFront = await opts.serverAddress?.(cluster.server);
      for (const name of opts.clients ?? ["A", "B", "C"]) cluster.addClient(name);
      if (opts.warmUp ?? true) await cluster.warmUp();
      return cluster;
    } catch (e) {
      dumpLogs(cluster.processes);
      await cluster[Symbol.asyncDispose]();
      throw e;
    }
  }

  get processes(): DropsimProcess[] {
    return [this.server, ...this.clients];
  }

  /** What clients connect to: the server, or what `serverAddress` put in front of it. */
  get clientServerAddress(): string {
    return this.inFront ?? this.server.address;
  }

  /** Starts one more client with its own (new or existing) folder. */
  addClient(name: string, folder = this.root.join(name)): ClientProcess {
    const client = new ClientProcess({ folder, server: this.clientServerAddress, name, token: this.server.token, extraArgs: this.clientArgs });
    client.start();
    this.clients.push(client);
    return client;
  }

  client(name: string): ClientProcess {
    const c = this.clients.find((c) => c.name === name);
    if (!c) throw new Error(`No client named "${name}" in this cluster`);
    return c;
  }

  /** Absolute path of `rel` inside client `name`'s folder. */
  path(name: string, rel = ""): string {
    return path.join(this.client(name).folder, rel);
  }

  /** `waitFor` that gives up at once when any process of the cluster exits on its own. */
  waitFor(what: string, check: () => CheckResult | Promise<CheckResult>, timeout = DEFAULT_DEADLINE_MS): Promise<void> {
    return waitFor(what, check, { timeout, abortIf: () => firstUnexpectedExit(this.processes) });
  }

  snapshot(name: string, opts: SnapshotOptions = {}): Promise<Tree> {
    return snapshotTree(path.join(this.client(name).folder, opts.under ?? ""), { modes: opts.modes });
  }

  /** Waits until the folder of every client in `names` holds exactly `expected`. */
  waitForTree(expected: Tree, names = this.clients.map((c) => c.name), opts: TreeWaitOptions = {}): Promise<void> {
    return this.waitFor(
      `${names.join(", ")} to hold the expected tree (${expected.size} entries${opts.under ? ` under ${opts.under}/` : ""})`,
      async () => {
        const trees = await Promise.all(names.map((n) => this.snapshot(n, opts)));
        return diffTrees([expected, ...trees], ["expected", ...names]) ?? true;
      },
      opts.timeout,
    );
  }

  /**
   * Waits until every client in `names` holds the same tree and `check` accepts it.
   * Resolves with that tree.
   */
  async waitForAgreement(
    what: string,
    check: (tree: Tree) => CheckResult,
    names = this.clients.map((c) => c.name),
    opts: TreeWaitOptions = {},
  ): Promise<Tree> {
    let agreed: Tree | undefined;
    await this.waitFor(
      `${names.join(", ")} to agree on a tree where ${what}`,
      async () => {
        const trees = await Promise.all(names.map((n) => this.snapshot(n, opts)));
        const diff = diffTrees(trees, names);
        if (diff) return diff;
        const verdict = check(trees[0]!);
        if (verdict !== true) return `${verdict}\nAgreed tree: ${describeTree(trees[0]!)}`;
        agreed = trees[0];
        return true;
      },
      opts.timeout,
    );
    return agreed!;
  }

  /** Each client writes a file; all must see all of them, then all must see them gone. */
  private async warmUp(): Promise<void> {
    // The client creates its folder and state on start; writing before that would race it.
    await this.waitFor("every client to create its folder and .dropsim/", async () => {
      const missing: string[] = [];
      for (const c of this.clients) if (!(await fs.exists(path.join(c.folder, STATE_DIR)))) missing.push(c.name);
      return missing.length === 0 || `no ${STATE_DIR}/ yet in: ${missing.join(", ")}`;
    });
    const expected: Tree = new Map();
    await Promise.all(
      this.clients.map(async (c) => {
        const content = `warm-up from ${c.name}\n`;
        await fs.writeFile(path.join(c.folder, `warmup-${c.name}.txt`), content);
        expected.set(`warmup-${c.name}.txt`, sha256(content));
      }),
    );
    await this.waitForTree(expected);
    await Promise.all(this.clients.map((c) => fs.rm(path.join(c.folder, `warmup-${c.name}.txt`))));
    await this.waitForTree(new Map());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await Promise.all(this.clients.map((c) => c[Symbol.asyncDispose]()));
      await this.server[Symbol.asyncDispose]();
    } finally {
      await this.root.remove();
    }
  }
}
