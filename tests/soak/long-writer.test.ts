// A log file appended without a pause for over two minutes must still reach the other side
// while it is being written (write-settle's MAX_HOLD_MS, 60 s), and B must only ever hold a
// prefix of it. Found by the everyday tests: when a hold ran out, the read always found the
// file longer than its stat (a line landed meanwhile), which restarted the hold, so B got
// nothing until the writer stopped. About 2.5 minutes, so it runs with the soak
// (`npm run test:soak`), not in `npm test`.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { sha256 } from "../helpers/tree.ts";

setDefaultTimeout(240_000);

const cluster = process.env.DROPSIM_SOAK ? useFileCluster({ clients: ["A", "B"] }) : () => undefined as never;

(process.env.DROPSIM_SOAK ? describe : describe.skip)("everyday programs in a synced folder, for minutes", () => {
  test(
    "a log file appended by sh every 50 ms for 130 s reaches B while it is still being written, and B only ever holds a prefix of it",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await fs.mkdir(c.path("A", "log"));
      // Each version B shows at the final name, with when it was first seen (ms after the start).
      const seenOnB = new Map<string, number>();
      const started = performance.now();
      let writing = true;
      let looking = true;
      let seenWhileWriting = 0;
      // The observer's pace (every 20 ms), not synchronisation.
      const observer = (async () => {
        while (looking) {
          const text = await fs.readFile(c.path("B", "log/app.log"), "utf8").catch(() => undefined);
          if (text !== undefined && !seenOnB.has(text)) {
            seenOnB.set(text, performance.now() - started);
            if (writing) seenWhileWriting++;
          }
          await Bun.sleep(20);
        }
      })();
      // The shell's sleep is the program's pace: a line every 50 ms (plus the time to spawn
      // sleep), 2600 lines, about 135 s without ever pausing for a second.
      const script = 'i=0; while [ $i -lt 2600 ]; do i=$((i+1)); echo "$i: request served, status 200" >> app.log; sleep 0.05; done';
      const proc = Bun.spawn(["sh", "-c", script], { cwd: c.path("A", "log"), stdin: "ignore", stdout: "ignore", stderr: "inherit" });
      expect(await proc.exited).toBe(0);
      writing = false;
      const final = await fs.readFile(c.path("A", "log/app.log"), "utf8");
      await c.waitForTree(new Map([["app.log", sha256(final)]]), ["A", "B"], { under: "log" });
      looking = false;
      await observer;

      const versions = [...seenOnB].map(([text, at]) => `${text.length} bytes at ${(at / 1000).toFixed(1)} s`);
      expect([...seenOnB.keys()].filter((s) => !final.startsWith(s)).map((s) => s.length)).toEqual([]);
      // The first line arrives at once; a file written for 135 s without pause must then arrive
      // at least once more (after 60 s at the latest) before the writer stops, not only at the end.
      expect(seenWhileWriting, `versions B held: ${versions.join(", ")}`).toBeGreaterThanOrEqual(2);
    }),
  );
});
