import { describe, expect, test } from "bun:test";
import { DropsimError } from "../../src/core/errors.ts";
import { parseFingerprint } from "../../src/core/fingerprint.ts";
import { formatJoinLink, type JoinLink, parseJoinLink, redactJoinLink } from "../../src/core/join-link.ts";

const HEX = "0123456789abcdef".repeat(4);
const FP = `SHA256:${HEX}`;
const TOKEN = "dst_0123456789ab_" + "A".repeat(43);
const COLONS = HEX.toUpperCase().match(/../g)!.join(":");

describe("parseJoinLink", () => {
  test.each<[string, JoinLink]>([
    [`dropsim://example.com:7070/default?token=${TOKEN}`, { host: "example.com", port: 7070, share: "default", token: TOKEN }],
    [`dropsim://10.0.0.5:443/team?token=${TOKEN}&fp=${FP}`, { host: "10.0.0.5", port: 443, share: "team", token: TOKEN, fingerprint: FP }],
    [`dropsim://[::1]:7070/team?fp=${FP}&token=${TOKEN}`, { host: "::1", port: 7070, share: "team", token: TOKEN, fingerprint: FP }],
    [`dropsim://h:1/my%20share?token=${TOKEN}`, { host: "h", port: 1, share: "my share", token: TOKEN }],
    [`  dropsim://h:65535/s?token=${TOKEN}&fp=sha256:${COLONS}\n`, { host: "h", port: 65535, share: "s", token: TOKEN, fingerprint: FP }],
    [`DROPSIM://h:7070/s?token=a%2Bb`, { host: "h", port: 7070, share: "s", token: "a+b" }],
  ])("parseJoinLink reads %p", (text, expected) => {
    expect(parseJoinLink(text)).toEqual(expected);
  });

  test.each([
    ["https://h:7070/s?token=T", "expected dropsim://HOST:PORT/SHARE?token=TOKEN"],
    ["dropsim://h/s?token=T", "expected dropsim://HOST:PORT/SHARE?token=TOKEN"],
    ["dropsim://h:7070?token=T", "expected dropsim://HOST:PORT/SHARE?token=TOKEN"],
    ["dropsim://h:7070/?token=T", "expected dropsim://HOST:PORT/SHARE?token=TOKEN"],
    ["dropsim://h:7070/a/b?token=T", "expected dropsim://HOST:PORT/SHARE?token=TOKEN"],
    ["dropsim://user@h:7070/s?token=T", "expected dropsim://HOST:PORT/SHARE?token=TOKEN"],
    ["dropsim://h:0/s?token=T", "port 0 is not from 1 to 65535"],
    ["dropsim://h:70000/s?token=T", "port 70000 is not from 1 to 65535"],
    ["dropsim://h:7070/s", "it carries no token"],
    ["dropsim://h:7070/s?token=", "it carries no token"],
    ["dropsim://h:7070/s?fp=" + FP, "it carries no token"],
    ["dropsim://h:7070/s?token=T&fp=SHA256:abc", "fp is not SHA256: followed by 64 hex digits"],
    ["dropsim://h:7070/s?token=T&token=U", '"token" is given twice'],
    ["dropsim://h:7070/s?token=T&fingerprint=x", 'unknown parameter "fingerprint"'],
    ["dropsim://h:7070/%E0%A4?token=T", "the share name is not valid percent-encoding"],
  ])("parseJoinLink refuses %p: %s", (text, detail) => {
    let error: unknown;
    try {
      parseJoinLink(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DropsimError);
    expect((error as DropsimError).code).toBe("bad_message");
    expect((error as DropsimError).message).toStartWith("Invalid join link");
    expect((error as DropsimError).message).toContain(detail);
  });

  test("parseJoinLink never repeats the token in its error", () => {
    expect(() => parseJoinLink(`dropsim://h:0/s?token=${TOKEN}`)).toThrow(/token=…/);
    expect(() => parseJoinLink(`dropsim://h:0/s?token=${TOKEN}`)).not.toThrow(TOKEN);
  });
});

describe("formatJoinLink", () => {
  test.each<JoinLink>([
    { host: "example.com", port: 7070, share: "default", token: TOKEN },
    { host: "10.0.0.5", port: 443, share: "team", token: TOKEN, fingerprint: FP },
    { host: "::1", port: 7070, share: "a b/c?d", token: "t&k=v", fingerprint: FP },
  ])("formatJoinLink's link parses back to %p", (link) => {
    expect(parseJoinLink(formatJoinLink(link))).toEqual(link);
  });

  test("formatJoinLink writes the fingerprint in its one spelling, unescaped", () => {
    const link = formatJoinLink({ host: "h", port: 7070, share: "s", token: "T", fingerprint: COLONS });
    expect(link).toBe(`dropsim://h:7070/s?token=T&fp=${FP}`);
  });
});

describe("redactJoinLink", () => {
  test("redactJoinLink blanks the token wherever it is and keeps the rest", () => {
    expect(redactJoinLink(`dropsim://h:1/s?fp=${FP}&token=${TOKEN}`)).toBe(`dropsim://h:1/s?fp=${FP}&token=…`);
    expect(redactJoinLink(`dropsim://h:1/s?token=${TOKEN}&fp=x`)).toBe("dropsim://h:1/s?token=…&fp=x");
  });
});

describe("parseFingerprint", () => {
  test.each([FP, HEX, HEX.toUpperCase(), `sha256:${COLONS}`, COLONS, `  ${FP} `])("parseFingerprint reads %p", (text) => {
    expect(parseFingerprint(text)).toBe(FP);
  });

  test.each(["", "SHA256:", HEX.slice(1), HEX + "0", `SHA1:${HEX}`, HEX.replace("0", "g")])("parseFingerprint refuses %p", (text) => {
    expect(() => parseFingerprint(text)).toThrow(/^Invalid fingerprint/);
  });
});
