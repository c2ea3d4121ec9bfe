import { expect, test } from "bun:test";
import { PausedError, Throttle } from "../../src/client/rate-limit.ts";

// The Throttle as transfers see it: limits and pauses apply to takes already waiting.

test("no limit: takes resolve at once", async () => {
  const t = new Throttle({ up: null, down: null });
  await t.take("upload", 1 << 30);
  await t.take("download", 1 << 30);
});

test("a take while paused, or closed, throws PausedError; resume lets takes through again", async () => {
  const t = new Throttle({ up: null, down: null });
  t.setPaused(true);
  await expect(t.take("upload", 1)).rejects.toBeInstanceOf(PausedError);
  t.setPaused(false);
  await t.take("upload", 1);
  t.close();
  await expect(t.take("download", 1)).rejects.toBeInstanceOf(PausedError);
});

test("a take waiting on a slow limit ends at once when the limit is lifted, and throws when paused", async () => {
  const clock = () => 0; // time stands still: only a change can end the wait
  const t = new Throttle({ up: 1024, down: 1024 }, clock);
  const lifted = t.take("upload", 1 << 20);
  t.setLimits({ up: null, down: 1024 });
  await lifted;
  expect(t.limits).toEqual({ up: null, down: 1024 });

  const paused = t.take("download", 1 << 20);
  t.setPaused(true);
  await expect(paused).rejects.toBeInstanceOf(PausedError);
});
