import { afterAll, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { crashSeed, expectFsckClean, packBytes, placeFile, prng } from "../crash/_lib.ts";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { scrapeMetric } from "../helpers/metrics.ts";
import { type CommandResult, runDropsim } from "../helpers/run-dropsim.ts";
import { sha256, type Tree } from "../helpers/tree.ts";

// Issue 12: GC is safe while clients upload. `dropsim gc --grace 0s` runs over and over beside
// a running server (which runs each one itself) while a client uploads files, several MiB ones
// among them: with no grace, blocks uploaded but not yet committed are fair game, so a commit
// whose blocks went must be refused and uploaded again, never committed pointing at nothing.
// The server is SIGKILLed at a seeded random moment of the upload and restarted. In the end
// fsck (which checks every retained version's blocks) is clean, and a fresh client downloads
// exactly what the uploader holds. The uploader reaches the server through a proxy that stalls
// now and then, so that many GC runs fall inside the upload. Replay a failure with
// DROPSIM_CRASH_SEED=<printed seed>.

setDefaultTimeout(120_000);

const MiB = 1024 * 1024;
const seed = crashSeed("gc-kill");
let proxy: FaultProxy | undefined;
const withCluster = useTestCluster({
  clients: ["A"],
  serverAddress: async (server) => {
    proxy = await FaultProxy.start({ target: server.address, seed, stallChance: 0.1, stallMaxMs: 300 });
    return proxy.address;
  },
});
afterAll(() => proxy?.close());

/** `dropsim gc --grace 0s` back to back until stopped; paused while the server is down (gc would take the data dir itself). */
class GcLoop {
  readonly results: CommandResult[] = [];
  private stopped = false;
  /** Set while paused: resolved by `resume`. */
  private held: PromiseWithResolvers<void> | undefined;
  private current: Promise<unknown> = Promise.resolve();
  private readonly done: Promise<void>;

  constructor(private readonly dataDir: string) {
    this.done = this.run();
  }

  get succeeded(): number {
    return this.results.filter((r) => r.code === 0).length;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.held) {
        await this.held.promise;
        continue;
      }
      const run = runDropsim(["gc", "--data", this.dataDir, "--grace", "0s"], { timeout: 15_000 });
      this.current = run;
      this.results.push(await run);
    }
  }

  /** Waits for the gc in flight (it may fail: its server died) and starts no other until `resume`. */
  async pause(): Promise<void> {
    this.held = Promise.withResolvers();
    await this.current;
  }

  resume(): void {
    this.held?.resolve();
    this.held = undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.resume();
    await this.done;
  }
}

test("gc with grace 0 running during uploads and a server SIGKILL loses no block of any retained version", async () => {
  const rnd = prng(seed);
  await withCluster(async (c) => {
    const dataDir = c.server.dataDir;
    const expected: Tree = new Map();
    const place = async (rel: string, size: number) => {
      const bytes = new Uint8Array(randomBytes(size));
      await placeFile(c, "A", rel, bytes);
      expected.set(rel, sha256(bytes));
    };
    const gc = new GcLoop(dataDir);
    try {
      const base = await packBytes(dataDir);
      let total = 0;
      await fs.mkdir(c.path("A", "docs"), { recursive: true });
      expected.set("docs", "dir");
      for (let i = 0; i < 24; i++) {
        const big = i % 6 === 0;
        const size = big ? Math.floor((4 + rnd() * 6) * MiB) : Math.floor(rnd() * 200_000);
        await place(i % 2 ? `docs/f-${i}.bin` : `f-${i}.bin`, size);
        total += size;
      }
      // Edits too, so that older versions are retained and fsck checks their blocks.
      for (const rel of ["f-0.bin", "docs/f-1.bin"]) {
        const size = Math.floor((1 + rnd() * 3) * MiB);
        await place(rel, size);
        total += size;
      }

      const killAt = base + Math.floor((0.15 + 0.6 * rnd()) * total);
      const ranBefore = gc.succeeded;
      await c.waitFor(`the server to store ${((killAt - base) / MiB).toFixed(1)} MiB of ${(total / MiB).toFixed(1)} and 3 gc runs to finish meanwhile`, async () => {
        const now = await packBytes(dataDir);
        return (now >= killAt && gc.succeeded >= ranBefore + 3) || `${((now - base) / MiB).toFixed(1)} MiB stored, ${gc.succeeded - ranBefore} gc runs done; last: ${gc.results.at(-1)?.output ?? "none"}`;
      }, 60_000);
      const refused = await scrapeMetric(c.server.metricsUrl, "dropsim_errors_total", { code: "missing_blocks" });
      console.error(`[gc-kill] SIGKILL after ${(((await packBytes(dataDir)) - base) / MiB).toFixed(1)} of ${(total / MiB).toFixed(1)} MiB, ${gc.succeeded} gc runs, ${refused} commits refused missing_blocks so far`);
      await c.server.kill();
      await gc.pause();
      await expectFsckClean(dataDir);

      // Changed while the server is down: uploaded after the restart, under gc again.
      await fs.rm(c.path("A", "f-6.bin"));
      expected.delete("f-6.bin");
      await place("docs/after-kill.bin", Math.floor((1 + rnd() * 4) * MiB));
      await c.server.launch();
      gc.resume();

      await c.waitForTree(expected, ["A"]);
      c.addClient("B");
      await c.waitForTree(expected, ["A", "B"], { timeout: 60_000 });
    } finally {
      await gc.stop();
    }
    const runs = gc.results.length;
    if (gc.succeeded < 2) throw new Error(`gc succeeded ${gc.succeeded} times of ${runs}; last said:\n${gc.results.at(-1)?.output}`);
    console.error(`[gc-kill] ${gc.succeeded} of ${runs} gc runs succeeded`);
    await c.server.stop();
    await expectFsckClean(dataDir);
  });
});
