// Fills packs, deletes half the blocks and compacts, round after round, until it is killed:
// tests/store/compaction-crash.test.ts SIGKILLs it at random moments. Usage: DIR SEED.
import { hashBlock } from "../../src/core/block-hash.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { PackBlockStore } from "../../src/store/pack-block-store.ts";
import { prng } from "../crash/_lib.ts";

const [dir, seedText] = process.argv.slice(2);
const random = prng(Number(seedText));
const store = await PackBlockStore.open(dir!, openBunDatabase, { packLimit: 1024 * 1024 });
const live: string[] = [];

function randomBlock(): Uint8Array {
  const b = new Uint8Array(4 * Math.floor(4096 + random() * 12288));
  const view = new DataView(b.buffer);
  for (let i = 0; i < b.length; i += 4) view.setUint32(i, (random() * 2 ** 32) >>> 0);
  return b;
}

for (let round = 1; ; round++) {
  for (let i = 0; i < 64; i++) {
    const b = randomBlock();
    await store.put(hashBlock(b), b);
    live.push(hashBlock(b));
  }
  await store.sync();
  const doomed = live.filter(() => random() < 0.5);
  await store.delete(doomed);
  const gone = new Set(doomed);
  live.splice(0, live.length, ...live.filter((h) => !gone.has(h)));
  await store.compact(0.1, false);
  console.log(`round ${round}`);
}
