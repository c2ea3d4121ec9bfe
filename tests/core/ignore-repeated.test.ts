import { expect, test } from "bun:test";
import { repeatedFlag } from "../../src/cli/exclude.ts";

test("sync --exclude is repeatable, in both spellings, and nothing after -- is a flag", () => {
  expect(repeatedFlag(["DIR", "--exclude", "a", "--verbose", "--exclude=b c", "--", "--exclude", "d"], "exclude")).toEqual(["a", "b c"]);
  expect(repeatedFlag(["DIR", "--excluded", "x", "--exclude"], "exclude")).toEqual([]);
});
