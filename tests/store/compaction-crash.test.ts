import { expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { hashBlock } from "../../src/core/block-hash.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { PackBlockStore } from "../../src/store/pack-block-store.ts";
import { crashSeed, prng } from "../crash/_lib.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const FIXTURE = path.join(import.meta.dir, "compaction-crash-fixture.ts");
const RUNS = 6;

/** Resolves once the child has printed `rounds` round lines. */
async function roundsDone(out: ReadableStream<Uint8Array>, rounds: number): Promise<void> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of out) {
    text += decoder.decode(chunk, { stream: true });
    if ((text.match(/^round \d+$/gm) ?? []).length >= rounds) return;
  }
  throw new Error(`The compaction fixture exited after ${JSON.stringify(text)}`);
}

async function packBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await fs.readdir(path.join(dir, "packs"))) total += (await fs.stat(path.join(dir, "packs", name))).size;
  return total;
}

test(
  "compaction killed at random moments leaves every indexed block readable, and the next compaction reclaims the space",
  async () => {
    const seed = crashSeed("compaction-crash");
    const random = prng(seed);
    for (let run = 0; run < RUNS; run++) {
      await using dir = await tempDir("dropsim-compact-crash-");
      const child = Bun.spawn([process.execPath, FIXTURE, dir.path, String(Math.floor(random() * 2 ** 31))], { stdout: "pipe", stderr: "inherit" });
      // The moment is chance on purpose: once a round or two have run, a kill lands somewhere in
      // filling, deleting or compacting, seeded so a failure replays.
      await roundsDone(child.stdout, 1 + Math.floor(random() * 2));
      await Bun.sleep(random() * 400);
      child.kill("SIGKILL");
      await child.exited;

      const store = await PackBlockStore.open(dir.path, openBunDatabase);
      try {
        expect(await store.check()).toEqual([]);
        const blocks = await store.list();
        for (const b of blocks) expect(hashBlock((await store.get(b.hash))!)).toBe(b.hash);
        const report = await store.compact(0, false);
        const live = blocks.reduce((n, b) => n + b.size, 0);
        expect(report.after).toBe(live);
        expect(await packBytes(dir.path)).toBe(live);
        expect(await store.check()).toEqual([]);
        for (const b of blocks) expect(hashBlock((await store.get(b.hash))!)).toBe(b.hash);
      } finally {
        await store.close();
      }
    }
  },
  120_000,
);
