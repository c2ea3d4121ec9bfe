import { describe, expect, test } from "bun:test";
import { countWithin } from "../../src/protocol/budget.ts";

describe("countWithin", () => {
  test.each([
    ["all small items fit", Array.from({ length: 10 }, () => "x"), 1000, 10],
    ["items are cut where the budget runs out", Array.from({ length: 10 }, () => "x".repeat(98)), 505, 5],
    ["one item over the budget still goes alone", ["x".repeat(5000), "y"], 100, 1],
    ["an empty list", [], 100, 0],
  ])("%s", (_name, items, budget, want) => {
    expect(countWithin(items as unknown[], budget)).toBe(want);
  });
});
