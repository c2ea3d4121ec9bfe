import { describe, expect, test } from "bun:test";
import {
  compareNames,
  decodeXattrs,
  encodeXattrs,
  isTooLarge,
  sameXattrs,
  syncsXattr,
  XATTR_LIMIT,
  withForeignXattrs,
  type XattrSet,
  xattrSetProblem,
} from "../../src/core/xattrs.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("syncsXattr", () => {
  test.each([
    ["linux", "user.comment", true],
    ["linux", "user.xdg.tags", true],
    ["linux", "user.", false],
    ["linux", "security.selinux", false],
    ["linux", "security.capability", false],
    ["linux", "system.posix_acl_access", false],
    ["linux", "trusted.overlay.opaque", false],
    ["linux", "com.apple.FinderInfo", false],
    ["linux", "", false],
    ["linux", "user.a\0b", false],
    ["darwin", "com.apple.metadata:_kMDItemUserTags", true],
    ["darwin", "com.apple.FinderInfo", true],
    ["darwin", "com.apple.quarantine", false],
    ["darwin", "com.apple.provenance", false],
    ["darwin", "com.apple.ResourceFork", false],
    ["darwin", "com.apple.lastuseddate#PS", false],
    ["darwin", "com.apple.metadata:kMDItemWhereFroms", false],
    ["darwin", "org.example.note", true],
    ["darwin", "user.comment", true],
    ["darwin", "", false],
    ["win32", "user.comment", false],
    ["freebsd", "user.comment", false],
  ] as const)("syncsXattr on %s takes %p: %p", (platform, name, expected) => {
    expect(syncsXattr(name, platform)).toBe(expected);
  });
});

describe("encodeXattrs", () => {
  test.each([
    { what: "no attributes", attrs: [], set: [] },
    { what: "one attribute", attrs: [["user.a", bytes("hi")]], set: [["user.a", "aGk="]] },
    { what: "an empty value", attrs: [["user.empty", new Uint8Array(0)]], set: [["user.empty", ""]] },
    { what: "binary bytes", attrs: [["user.bin", new Uint8Array([0, 255, 10, 0])]], set: [["user.bin", "AP8KAA=="]] },
    {
      what: "names sorted whatever the OS's order",
      attrs: [["user.b", bytes("2")], ["user.B", bytes("3")], ["user.a", bytes("1")]],
      set: [["user.B", "Mw=="], ["user.a", "MQ=="], ["user.b", "Mg=="]],
    },
    { what: "a name given twice keeps the last value", attrs: [["user.a", bytes("1")], ["user.a", bytes("2")]], set: [["user.a", "Mg=="]] },
  ] as { what: string; attrs: [string, Uint8Array][]; set: XattrSet }[])("encodeXattrs of $what", ({ attrs, set }) => {
    const encoded = encodeXattrs(attrs);
    expect(encoded).toEqual(set);
    expect(xattrSetProblem(set)).toBeUndefined();
  });

  test.each([
    { what: "exactly at the limit", valueBytes: XATTR_LIMIT - "user.big".length, tooLarge: false },
    { what: "one byte over the limit", valueBytes: XATTR_LIMIT - "user.big".length + 1, tooLarge: true },
  ])("encodeXattrs counts names and values: $what", ({ valueBytes, tooLarge }) => {
    const result = encodeXattrs([["user.big", new Uint8Array(valueBytes)]]);
    expect(isTooLarge(result)).toBe(tooLarge);
    if (isTooLarge(result)) expect(result.bytes).toBe(XATTR_LIMIT + 1);
  });

  test("encodeXattrs counts names in UTF-8 bytes and sums every attribute", () => {
    const name = "user.étiquette"; // 15 bytes, 14 code units
    const value = new Uint8Array(XATTR_LIMIT / 2 - 15);
    expect(isTooLarge(encodeXattrs([[name, value], ["user.x", new Uint8Array(XATTR_LIMIT / 2 - 6)]]))).toBe(false);
    expect(encodeXattrs([[name, value], ["user.x", new Uint8Array(XATTR_LIMIT / 2 - 5)]])).toEqual({ tooLarge: true, bytes: XATTR_LIMIT + 1 });
  });

  test("decodeXattrs gives back the raw values of encodeXattrs", () => {
    const attrs: [string, Uint8Array][] = [["user.a", bytes("one")], ["user.b", new Uint8Array([0, 1, 2, 253])], ["user.c", new Uint8Array(0)]];
    const set = encodeXattrs(attrs);
    expect(isTooLarge(set)).toBe(false);
    expect(decodeXattrs(set as XattrSet)).toEqual(attrs);
  });
});

describe("sameXattrs", () => {
  const a: XattrSet = [["user.a", "MQ=="]];
  test.each([
    { what: "equal sets", x: a, y: [["user.a", "MQ=="]], same: true },
    { what: "a changed value", x: a, y: [["user.a", "Mg=="]], same: false },
    { what: "a renamed attribute", x: a, y: [["user.b", "MQ=="]], same: false },
    { what: "an added attribute", x: a, y: [...a, ["user.b", ""]], same: false },
    { what: "two empty sets", x: [], y: [], same: true },
    { what: "unknown and empty", x: undefined, y: [], same: true },
    { what: "unknown and unknown", x: undefined, y: undefined, same: true },
    { what: "unknown and a set", x: undefined, y: a, same: false },
  ] as { what: string; x: XattrSet | undefined; y: XattrSet | undefined; same: boolean }[])("sameXattrs of $what is $same", ({ x, y, same }) => {
    expect(sameXattrs(x, y)).toBe(same);
    expect(sameXattrs(y, x)).toBe(same);
  });
});

describe("xattrSetProblem", () => {
  test.each([
    { what: "an empty name", set: [["", "MQ=="]], problem: /empty or holds a NUL/ },
    { what: "a name with a NUL", set: [["user.a\0", "MQ=="]], problem: /empty or holds a NUL/ },
    { what: "names out of order", set: [["user.b", ""], ["user.a", ""]], problem: /"user.a" is out of order or repeated/ },
    { what: "a repeated name", set: [["user.a", ""], ["user.a", ""]], problem: /"user.a" is out of order or repeated/ },
    { what: "a value that is not base64", set: [["user.a", "not base64!"]], problem: /not base64/ },
    { what: "a value without its padding", set: [["user.a", "MQ"]], problem: /canonical base64/ },
    { what: "a set over the limit", set: [["user.a", new Uint8Array(XATTR_LIMIT).toBase64()]], problem: /more than the limit of 65536/ },
  ] as { what: string; set: XattrSet; problem: RegExp }[])("xattrSetProblem finds $what", ({ set, problem }) => {
    expect(xattrSetProblem(set)).toMatch(problem);
  });
});

test("compareNames orders by code unit, not by locale", () => {
  expect(["user.b", "user.B", "user.é", "user.a"].sort(compareNames)).toEqual(["user.B", "user.a", "user.b", "user.é"]);
});

describe("withForeignXattrs", () => {
  const tags = "com.apple.metadata:_kMDItemUserTags";
  test.each<{ what: string; read: XattrSet | undefined; synced: XattrSet | undefined; platform: string; want: XattrSet | undefined }>([
    { what: "what was read, with nothing synced", read: [["user.a", "MQ=="]], synced: undefined, platform: "linux", want: [["user.a", "MQ=="]] },
    { what: "nothing read and nothing synced", read: [], synced: undefined, platform: "linux", want: undefined },
    { what: "a removal of a name this system holds", read: [], synced: [["user.a", "MQ=="]], platform: "linux", want: undefined },
    { what: "a change of a name this system holds", read: [["user.a", "Mg=="]], synced: [["user.a", "MQ=="]], platform: "linux", want: [["user.a", "Mg=="]] },
    { what: "Finder tags kept on Linux, in order", read: [["user.z", ""]], synced: [[tags, "eA=="], ["user.a", "MQ=="]], platform: "linux", want: [[tags, "eA=="], ["user.z", ""]] },
    { what: "Finder tags read on macOS are not kept from before", read: [], synced: [[tags, "eA=="]], platform: "darwin", want: undefined },
    { what: "everything kept where nothing can be read", read: undefined, synced: [["user.a", "MQ=="]], platform: "linux", want: [["user.a", "MQ=="]] },
    { what: "everything kept on a system that syncs none", read: [], synced: [["user.a", "MQ=="]], platform: "win32", want: [["user.a", "MQ=="]] },
  ])("withForeignXattrs gives $what", ({ read, synced, platform, want }) => {
    const got = withForeignXattrs(read, synced, platform);
    expect(got).toEqual(want);
    if (got) expect(xattrSetProblem(got)).toBeUndefined();
  });

  test("withForeignXattrs leaves foreign names out when with them the set would pass the limit", () => {
    const read: XattrSet = [["user.a", new Uint8Array(XATTR_LIMIT - 100).toBase64()]];
    const synced: XattrSet = [["com.apple.FinderInfo", new Uint8Array(200).toBase64()]];
    expect(withForeignXattrs(read, synced, "linux")).toEqual(read);
  });
});
