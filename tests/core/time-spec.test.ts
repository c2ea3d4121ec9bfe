import { describe, expect, test } from "bun:test";
import { formatLocalTime, formatUtcTime, parseTimeSpec, type ZoneOffset } from "../../src/core/time-spec.ts";

const NOW = Date.UTC(2026, 11, 1, 15, 0, 0);
const fixed = (minutes: number): ZoneOffset => () => minutes;
/** A zone at +01:00 in winter and +02:00 from 2026-03-29 01:00 UTC to 2026-10-25 01:00 UTC (Paris). */
const paris: ZoneOffset = (ms) => (ms >= Date.UTC(2026, 2, 29, 1) && ms < Date.UTC(2026, 9, 25, 1) ? 120 : 60);

describe("parseTimeSpec", () => {
  test.each([
    ["2026-12-01 14:00", fixed(60), Date.UTC(2026, 11, 1, 13, 0)],
    ["2026-12-01 14:00:30", fixed(60), Date.UTC(2026, 11, 1, 13, 0, 30)],
    ["2026-12-01 14:00", fixed(0), Date.UTC(2026, 11, 1, 14, 0)],
    ["2026-12-01 14:00", fixed(-300), Date.UTC(2026, 11, 1, 19, 0)],
    ["2026-12-01 14:00", fixed(330), Date.UTC(2026, 11, 1, 8, 30)],
    ["2026-12-01T14:00", fixed(60), Date.UTC(2026, 11, 1, 13, 0)],
    ["  2026-12-01 14:00  ", fixed(0), Date.UTC(2026, 11, 1, 14, 0)],
    ["2026-07-01 14:00", paris, Date.UTC(2026, 6, 1, 12, 0)],
    ["2026-12-01 14:00", paris, Date.UTC(2026, 11, 1, 13, 0)],
    ["2h ago", fixed(60), NOW - 2 * 3_600_000],
    ["90m ago", fixed(60), NOW - 90 * 60_000],
    ["3 days ago", fixed(60), NOW - 3 * 86_400_000],
    ["1h30m ago", fixed(60), NOW - 90 * 60_000],
    ["10 minutes ago", fixed(60), NOW - 10 * 60_000],
    ["1 week 2 days ago", fixed(60), NOW - 9 * 86_400_000],
    ["45s ago", fixed(60), NOW - 45_000],
    ["2026-12-01T13:00:00Z", fixed(60), Date.UTC(2026, 11, 1, 13, 0)],
    ["2026-12-01T13:00:00.250Z", fixed(60), Date.UTC(2026, 11, 1, 13, 0, 0, 250)],
    ["2026-12-01T14:00:00+01:00", fixed(-300), Date.UTC(2026, 11, 1, 13, 0)],
    ["2026-12-01T08:30:00-0430", fixed(0), Date.UTC(2026, 11, 1, 13, 0)],
    ["2026-12-01T13:00Z", fixed(0), Date.UTC(2026, 11, 1, 13, 0)],
    ["2026-12-01 14:03:22 +01:00", fixed(-300), Date.UTC(2026, 11, 1, 13, 3, 22)],
  ])("%p reads as the right instant", (text, zone, expected) => {
    expect(parseTimeSpec(text, NOW, zone)).toBe(expected);
  });

  test.each([
    "",
    "yesterday",
    "2026-13-01 14:00",
    "2026-02-30 14:00",
    "2026-12-01 24:00",
    "2026-12-01 14:60",
    "2026-12-01",
    "2h",
    "ago",
    "2 fortnights ago",
    "-2h ago",
    "2026-12-01T13:00:00+25:00",
    "1733058000000",
  ])("%p is refused naming the accepted forms", (text) => {
    expect(() => parseTimeSpec(text, NOW, fixed(0))).toThrow(/^Invalid time ".*": expected a local time such as "2026-12-01 14:00".*ISO 8601/);
    try {
      parseTimeSpec(text, NOW, fixed(0));
    } catch (e) {
      expect((e as { code: string }).code).toBe("bad_message");
    }
  });
});

describe("formatLocalTime", () => {
  test.each([
    [Date.UTC(2026, 11, 1, 13, 3, 22), fixed(60), "2026-12-01 14:03:22 +01:00"],
    [Date.UTC(2026, 11, 1, 13, 3, 22), fixed(0), "2026-12-01 13:03:22 +00:00"],
    [Date.UTC(2026, 11, 1, 3, 3, 22), fixed(-300), "2026-11-30 22:03:22 -05:00"],
    [Date.UTC(2026, 11, 1, 13, 3, 22), fixed(345), "2026-12-01 18:48:22 +05:45"],
    [Date.UTC(2026, 6, 1, 12, 0, 0), paris, "2026-07-01 14:00:00 +02:00"],
  ])("%p prints local time with its offset", (ms, zone, expected) => {
    expect(formatLocalTime(ms, zone)).toBe(expected);
  });

  test("what it prints reads back as the same second, even in the hour a DST change repeats", () => {
    for (const zone of [fixed(60), fixed(-210), paris]) {
      for (const ms of [Date.UTC(2026, 9, 25, 0, 30, 5), Date.UTC(2026, 9, 25, 1, 30, 5)]) {
        expect(parseTimeSpec(formatLocalTime(ms, zone), NOW, fixed(0))).toBe(ms);
      }
    }
  });
});

test("formatUtcTime prints UTC ISO 8601", () => {
  expect(formatUtcTime(Date.UTC(2026, 11, 1, 13, 0, 0, 5))).toBe("2026-12-01T13:00:00.005Z");
});
