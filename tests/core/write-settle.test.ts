import { describe, expect, test } from "bun:test";
import { HOT_MS, MAX_HOLD_MS, QUIET_MS, WriteSettle } from "../../src/core/write-settle.ts";

const stamp = (size: number, mtimeMs = size) => ({ size, mtimeMs, ino: 7 });

describe("WriteSettle", () => {
  test("a change seen for the first time is read at once", () => {
    expect(new WriteSettle().check("f", stamp(1), 0)).toBe(0);
  });

  test("a file that changes again moments after a change waits until it has been quiet", () => {
    const s = new WriteSettle();
    expect(s.check("f", stamp(1), 0)).toBe(0);
    expect(s.check("f", stamp(2), 100)).toBe(QUIET_MS);
    expect(s.check("f", stamp(3), 200)).toBe(QUIET_MS);
    expect(s.check("f", stamp(3), 700)).toBe(QUIET_MS - 500);
    expect(s.check("f", stamp(3), 200 + QUIET_MS)).toBe(0);
  });

  test("a file written continuously for 6 s is read twice: at its first change and once quiet", () => {
    const s = new WriteSettle();
    let reads = 0;
    let t = 0;
    for (; t <= 6000; t += 100) if (s.check("f", stamp(t + 1), t) === 0) reads++;
    // Once read and committed, the file matches what was synced and is no longer checked.
    for (; s.check("f", stamp(6001), t) !== 0; t += 100);
    expect(reads).toBe(1);
    expect(t).toBeGreaterThanOrEqual(6000 + QUIET_MS);
    expect(t).toBeLessThan(6000 + QUIET_MS + 200);
  });

  test("edits further apart than HOT_MS are each read at once", () => {
    const s = new WriteSettle();
    expect(s.check("f", stamp(1), 0)).toBe(0);
    expect(s.check("f", stamp(2), HOT_MS + 1)).toBe(0);
    expect(s.check("f", stamp(3), 2 * HOT_MS + 2)).toBe(0);
  });

  test("a file written for longer than MAX_HOLD_MS is still read now and then", () => {
    const s = new WriteSettle();
    const reads: number[] = [];
    for (let t = 0; t <= 2.5 * MAX_HOLD_MS; t += 100) if (s.check("f", stamp(t + 1), t) === 0) reads.push(t);
    expect(reads.length).toBe(3);
    expect(reads[1]! - reads[0]!).toBeGreaterThanOrEqual(MAX_HOLD_MS);
  });

  test("a change during the read holds the file until quiet", () => {
    const s = new WriteSettle();
    expect(s.check("f", stamp(1), 0)).toBe(0);
    expect(s.changedWhileRead("f", stamp(5), 50)).toBe(QUIET_MS);
    expect(s.check("f", stamp(5), 60)).toBe(QUIET_MS - 10);
    expect(s.check("f", stamp(5), 50 + QUIET_MS)).toBe(0);
  });

  test("paths are tracked apart", () => {
    const s = new WriteSettle();
    expect(s.check("a", stamp(1), 0)).toBe(0);
    expect(s.check("b", stamp(1), 10)).toBe(0);
    expect(s.check("a", stamp(2), 20)).toBeGreaterThan(0);
    expect(s.check("c", stamp(2), 30)).toBe(0);
  });

  test("prune drops only files that stopped changing", () => {
    const s = new WriteSettle();
    s.check("old", stamp(1), 0);
    s.check("hot", stamp(1), 0);
    s.check("hot", stamp(2), HOT_MS);
    s.prune(HOT_MS + QUIET_MS / 2 + HOT_MS / 2);
    expect(s.check("old", stamp(2), HOT_MS + 1000)).toBe(0);
    expect(s.check("hot", stamp(3), HOT_MS + 1000)).toBeGreaterThan(0);
  });

  test("a file always changing while read is taken as read once its hold runs out, then held again", () => {
    const s = new WriteSettle();
    let t = 0;
    expect(s.check("log", stamp(1), t)).toBe(0);
    for (t = 100; s.check("log", stamp(t + 1), t) !== 0; t += 100);
    expect(t).toBeGreaterThanOrEqual(MAX_HOLD_MS);
    // The read finds it longer than stat said: an append landed meanwhile.
    expect(s.changedWhileRead("log", stamp(t + 50), t + 10)).toBe(0);
    // The next change waits again, for a new hold.
    expect(s.check("log", stamp(t + 200), t + 200)).toBeGreaterThan(0);
    expect(s.changedWhileRead("other", stamp(5), t + 200)).toBe(QUIET_MS);
  });

  test("a file read once quiet but changed during the read waits again", () => {
    const s = new WriteSettle();
    expect(s.check("f", stamp(1), 0)).toBe(0);
    expect(s.check("f", stamp(2), 100)).toBeGreaterThan(0);
    expect(s.check("f", stamp(2), 100 + QUIET_MS)).toBe(0);
    expect(s.changedWhileRead("f", stamp(3), 110 + QUIET_MS)).toBe(QUIET_MS);
  });
});
