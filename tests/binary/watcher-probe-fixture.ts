/**
 * Built into a standalone binary by tests/binary/binary.test.ts: proves the embedded
 * @parcel/watcher addon loads and works (subscribe with ignore globs and paths, snapshots)
 * when no node_modules is anywhere near. Prints one JSON line and exits 0 on success.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { WatchEvent } from "../../src/runtime/types.ts";
import { loadWatcher } from "../../src/runtime/watcher.ts";

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

const dir = await fs.mkdtemp(path.join(os.tmpdir(), "dropsim-watch-probe-"));
try {
  const watcher = await loadWatcher();
  const seen: WatchEvent[] = [];
  const sub = await watcher.subscribe(dir, (err, events) => (err ? console.error(err) : seen.push(...events)), {
    ignore: ["**/*.swp", ".dropsim"],
  });
  await fs.mkdir(path.join(dir, ".dropsim"));
  await fs.writeFile(path.join(dir, ".dropsim", "state.db"), "x");
  await fs.writeFile(path.join(dir, "notes.swp"), "x");
  await fs.writeFile(path.join(dir, "hello.txt"), "hello");
  await waitFor("the event for hello.txt", () => seen.some((e) => e.path.endsWith("hello.txt")));
  await sub.unsubscribe();
  const ignoredSeen = seen.filter((e) => e.path.endsWith(".swp") || e.path.includes(".dropsim")).map((e) => e.path);

  const snapshot = path.join(os.tmpdir(), `${path.basename(dir)}.snapshot`);
  await watcher.writeSnapshot(dir, snapshot);
  await fs.writeFile(path.join(dir, "later.txt"), "later");
  const since = await watcher.getEventsSince(dir, snapshot);
  await fs.rm(snapshot, { force: true });

  const result = {
    standalone: Bun.isStandaloneExecutable,
    events: seen.map((e) => `${e.type} ${path.relative(dir, e.path)}`),
    ignoredSeen,
    since: since.map((e) => `${e.type} ${path.relative(dir, e.path)}`),
  };
  console.log(JSON.stringify(result));
  const ok = ignoredSeen.length === 0 && result.since.includes("create later.txt");
  process.exit(ok ? 0 : 1);
} finally {
  await fs.rm(dir, { recursive: true, force: true });
}
