import { describe, expect, test } from "bun:test";
import { RSS_BUDGET, rationedCollector } from "../../src/runtime/reclaim.ts";
import { release, wholeBuffer } from "../../src/core/release.ts";

const MiB = 1024 * 1024;

describe("rationedCollector", () => {
  test("collects after 8 MiB of traffic, and only once the process is past its memory budget", () => {
    let rss = RSS_BUDGET - 1;
    let collections = 0;
    const reclaim = rationedCollector(() => collections++, () => rss);
    reclaim(7 * MiB);
    reclaim(2 * MiB);
    expect(collections).toBe(0);
    rss = RSS_BUDGET + 1;
    reclaim(7 * MiB);
    expect(collections).toBe(0);
    reclaim(2 * MiB);
    expect(collections).toBe(1);
  });
});

describe("release", () => {
  test("frees a buffer: every view of it reads as empty", () => {
    const bytes = new Uint8Array(64 * 1024).fill(7);
    const view = bytes.subarray(100, 200);
    expect(wholeBuffer(bytes)).toBe(true);
    expect(wholeBuffer(view)).toBe(false);
    release(bytes.buffer);
    expect(bytes.length).toBe(0);
    expect(view.length).toBe(0);
    release(bytes.buffer);
  });
});

describe("rationedCollector's rationing", () => {
  test("waits ten times the CPU time a collection took, however long it took on the wall", () => {
    let cpu = 0;
    let collections = 0;
    const reclaim = rationedCollector(
      () => {
        collections++;
        cpu += 5;
      },
      () => RSS_BUDGET,
      () => cpu,
    );
    reclaim(8 * MiB);
    expect(collections).toBe(1);
    // 50 ms of wall time must pass before the next: right after, 8 MiB more is not enough.
    reclaim(8 * MiB);
    expect(collections).toBe(1);
  });
});
