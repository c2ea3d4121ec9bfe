import { describe, expect, test } from "bun:test";
import { parseRate, TokenBucket } from "../../src/core/rate.ts";

describe("parseRate", () => {
  const rows: [string, number | null][] = [
    ["1MiB", 2 ** 20],
    ["500KiB", 500 * 1024],
    ["2MB", 2_000_000],
    ["1.5M", 1.5 * 2 ** 20],
    ["64k", 64 * 1024],
    ["100", 100 * 1024], // a bare number is KiB, as rsync's --bwlimit reads it
    ["1gib/s", 2 ** 30],
    ["300b", 300],
    ["0", null],
    ["none", null],
    [" NONE ", null],
  ];
  for (const [text, bytes] of rows) test(`"${text}" → ${bytes}`, () => expect(parseRate(text)).toBe(bytes));

  for (const bad of ["", "fast", "-1MiB", "1XB", "0.1b", "1 MiB per day"]) {
    test(`"${bad}" is refused in one sentence naming the forms`, () => {
      expect(() => parseRate(bad)).toThrow(/^Invalid rate ".*": expected bytes per second such as 1MiB/);
    });
  }
});

describe("TokenBucket", () => {
  const KiB = 1024;
  // Rate 64 KiB/s: the burst is its floor, 16 KiB.
  const rows: [string, [number, number][], number[]][] = [
    ["a full bucket lets its burst through at once", [[16 * KiB, 0]], [0]],
    ["past the burst, the debt is paid at the rate", [[16 * KiB, 0], [64 * KiB, 0]], [0, 1000]],
    ["a block bigger than the bucket is taken whole, then waited for", [[80 * KiB, 0]], [1000]],
    ["tokens build up while idle, up to the burst only", [[16 * KiB, 0], [16 * KiB, 10_000], [16 * KiB, 10_000]], [0, 0, 250]],
    ["waiting what it said makes the next take free again", [[32 * KiB, 0], [0, 250]], [250, 0]],
    ["a clock going back adds no tokens", [[16 * KiB, 1000], [16 * KiB, 0]], [0, 250]],
  ];
  for (const [name, takes, waits] of rows) {
    test(name, () => {
      const bucket = new TokenBucket(64 * KiB, 0);
      expect(takes.map(([bytes, at]) => Math.round(bucket.take(bytes, at)))).toEqual(waits);
    });
  }

  test("over a long transfer the rate holds, whatever the block sizes", () => {
    const rate = 1024 * 1024;
    const bucket = new TokenBucket(rate, 0);
    let now = 0;
    let sent = 0;
    const sizes = [4096, 1 << 20, 300_000, 65_536, 2 << 20, 17];
    for (let i = 0; i < 200; i++) {
      const bytes = sizes[i % sizes.length]!;
      now += bucket.take(bytes, now);
      sent += bytes;
    }
    // Sent by `now` (each block goes once its wait is over): no more than the burst over the rate.
    expect(sent).toBeLessThanOrEqual((now / 1000) * rate + rate / 4 + 1);
    expect(sent).toBeGreaterThan((now / 1000) * rate);
  });
});
