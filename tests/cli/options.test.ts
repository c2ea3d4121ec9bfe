import { describe, expect, test } from "bun:test";
import { closest } from "../../src/cli/closest.ts";
import { formatDuration, parseDuration, parsePort, parseServerAddress } from "../../src/cli/options.ts";

const H = 3_600_000;

describe("parseDuration", () => {
  test.each([
    ["1h30m", 1.5 * H],
    ["45s", 45_000],
    ["500ms", 500],
    ["2d", 48 * H],
    ["1d12h", 36 * H],
    ["1.5h", 1.5 * H],
    ["90", 90_000],
    [" 10m ", 600_000],
  ])("reads %p", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(["banana", "-5s", "1x", "h", "", "1h 30m", "5 s"])("refuses %p, saying what is expected", (text) => {
    expect(() => parseDuration(text)).toThrow(`Invalid duration "${text}": expected 0 or a duration such as 1h30m`);
  });

  test("refuses 0 and values outside the flag's range, naming the range and where the value came from", () => {
    const range = { min: 1000, max: 7 * 24 * H };
    expect(() => parseDuration("0", range)).toThrow('Invalid duration "0": expected a duration such as 1h30m, 45s or 500ms, from 1s to 7d');
    expect(() => parseDuration("500ms", range)).toThrow("from 1s to 7d");
    expect(() => parseDuration("8d", range, " for rescan-interval (from DROPSIM_RESCAN_INTERVAL)")).toThrow('Invalid duration "8d" for rescan-interval (from DROPSIM_RESCAN_INTERVAL): expected');
    expect(parseDuration("0", { min: 0, max: H })).toBe(0);
  });

  test.each([[0, "0"], [1.5 * H, "1h30m"], [500, "500ms"], [7 * 24 * H, "7d"], [90_061_001, "1d1h1m1s1ms"]])("formats %p as %p, which reads back", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});

describe("parsePort", () => {
  test.each([["0", 0], ["7070", 7070], ["65535", 65535]])("reads %p", (text, port) => expect(parsePort(text)).toBe(port));
  test.each(["99999", "-1", "70.5", "http", ""])("refuses %p in one line", (text) => {
    expect(() => parsePort(text, " for --port")).toThrow(`Invalid port "${text}" for --port: expected a number from 0 to 65535`);
  });
});

describe("parseServerAddress", () => {
  test.each([
    ["127.0.0.1:7071", { host: "127.0.0.1", port: 7071 }],
    ["[::1]:7070", { host: "::1", port: 7070 }],
    ["[::1]", { host: "::1", port: 7070 }],
    ["example.org", { host: "example.org", port: 7070 }],
    ["dropsim://example.org:7099/team?token=abc", { host: "example.org", port: 7099 }],
    ["dropsim://[::1]:7000/team?token=abc", { host: "::1", port: 7000 }],
  ])("reads %p", (text, address) => expect(parseServerAddress(text)).toEqual(address));

  test.each([
    ["::1:7070", "Invalid server address"],
    ["host:99999", 'Invalid port "99999"'],
    ["http://host:80", "Invalid server address"],
    ["dropsim://host:7070/team", "it carries no token"],
  ])("refuses %p", (text, message) => {
    expect(() => parseServerAddress(text)).toThrow(message);
  });
});

describe("closest", () => {
  test.each([
    ["prot", ["port", "host", "data"], "port"],
    ["hots", ["port", "host"], "host"],
    ["rescan", ["rescan-interval", "server"], "rescan-interval"],
    ["verbos", ["verbose", "quiet"], "verbose"],
    ["zzzzzz", ["port", "host"], undefined],
  ])("%p is nearest to %p: %p", (word, candidates, expected) => {
    expect(closest(word, candidates)).toBe(expected);
  });
});
