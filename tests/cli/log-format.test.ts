import { expect, test } from "bun:test";
import { FOLD_MS, formatJson, formatText, isoTime, LogFold, type LogRecord } from "../../src/core/log.ts";
import { formatCount, formatDuration } from "../../src/core/units.ts";
import { parseLogFormat } from "../../src/cli/log.ts";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$/;
const at = new Date("2026-12-02T04:46:31.123Z");
const rec = (message: string, level: LogRecord["level"] = "info", time = at): LogRecord => ({ time, level, tag: "sync", message });

test("isoTime is ISO 8601 with the local offset, naming the same instant", () => {
  const text = isoTime(at);
  expect(text).toMatch(ISO);
  expect(new Date(text).getTime()).toBe(at.getTime());
});

test.each([
  [rec("Connected to h:1"), /^\S+ INFO  \[sync\] Connected to h:1$/],
  [rec("Lost connection", "warn"), /^\S+ WARN  \[sync\] Lost connection$/],
  [{ ...rec("no tag"), tag: "" }, /^\S+ INFO  no tag$/],
  [rec("first\nsecond", "error"), /^\S+ ERROR \[sync\] first\n    second$/],
])("formatText writes %o as one timestamped line", (r, re) => {
  const line = formatText(r);
  expect(line).toMatch(re);
  expect(line.split(" ")[0]!).toMatch(ISO);
});

test("formatJson writes one object per line with time, level, tag, message and extra fields", () => {
  const line = formatJson({ ...rec('say "hi"\nthere', "warn"), extra: { repeated: 3 } });
  expect(line).not.toContain("\n");
  const o = JSON.parse(line);
  expect(o).toEqual({ time: isoTime(at), level: "warn", tag: "sync", message: 'say "hi"\nthere', repeated: 3 });
  expect(o.time).toMatch(ISO);
});

test.each([["text"], ["json"]])("parseLogFormat accepts %s", (f) => expect(parseLogFormat(f)).toBe(f as "text"));
test("parseLogFormat refuses anything else, naming the choices", () => expect(() => parseLogFormat("xml")).toThrow('Invalid log format "xml": expected text or json'));

/** [what is said, at which ms, …] → the messages written, with the closing `due` at the end. */
const foldRows: [string, [string, number][], number, string[]][] = [
  ["distinct messages all pass", [["a", 0], ["b", 10], ["c", 20]], 5000, ["a", "b", "c"]],
  ["a repeat within a second is folded", [["a", 0], ["a", 100], ["a", 900]], 5000, ["a", "a (repeated 2 times)"]],
  ["one repeat says 1 time", [["a", 0], ["a", 500]], 5000, ["a", "a (repeated 1 time)"]],
  ["a repeat after the window is said again", [["a", 0], ["a", FOLD_MS + 1]], 5000, ["a", "a"]],
  ["interleaved repeats fold each message", [["a", 0], ["b", 1], ["a", 2], ["b", 3], ["a", 4]], 5000, ["a", "b", "a (repeated 2 times)", "b (repeated 1 time)"]],
  ["a window closed by a later line is said before it", [["a", 0], ["a", 10], ["b", 2000]], 5000, ["a", "a (repeated 1 time)", "b"]],
  ["no repeat, no summary", [["a", 0]], 5000, ["a"]],
];

test.each(foldRows)("LogFold: %s", (_name, said, end, expected) => {
  const fold = new LogFold();
  const out: string[] = [];
  for (const [m, t] of said) out.push(...fold.offer(rec(m, "info", new Date(t)), t).map((r) => r.message));
  out.push(...fold.due(end).map((r) => r.message));
  expect(out).toEqual(expected);
  expect(fold.nextDue).toBeUndefined();
});

test("LogFold keeps levels apart, tells when the next window closes, and drains everything at exit", () => {
  const fold = new LogFold();
  expect(fold.offer(rec("x", "info"), 0)).toHaveLength(1);
  expect(fold.offer(rec("x", "warn"), 1)).toHaveLength(1);
  expect(fold.offer(rec("x", "warn"), 2)).toHaveLength(0);
  expect(fold.nextDue).toBe(FOLD_MS);
  const drained = fold.due(3, true);
  expect(drained.map((r) => [r.level, r.message, r.extra])).toEqual([["warn", "x (repeated 1 time)", { repeated: 1 }]]);
});

test.each([
  [0, "0.0 s"],
  [2300, "2.3 s"],
  [14_249, "14.2 s"],
  [59_900, "59.9 s"],
  [59_990, "1 min"],
  [65_000, "1 min 5 s"],
  [120_000, "2 min"],
  [3_599_000, "59 min 59 s"],
  [5_400_000, "1 h 30 min"],
  [90_000_000, "1 d 1 h"],
  [-5, "0.0 s"],
])("formatDuration(%d) is %s", (ms, text) => expect(formatDuration(ms)).toBe(text));

test.each([
  [0, "file", "0 files"],
  [1, "file", "1 file"],
  [20_000, "file", "20,000 files"],
  [1234567, undefined, "1,234,567"],
])("formatCount(%d, %s) is %s", (n, noun, text) => expect(formatCount(n, noun)).toBe(text));
