import { z } from "zod";
import { DropsimError } from "../core/errors.ts";
import { type LocalListener, listenLocal } from "../fsutil/local-socket.ts";
import { controlAddress } from "./control-client.ts";
import type { Controlled, ControlReply, ControlRequest } from "./control.ts";
import type { StatusSnapshot } from "./status.ts";


/** A flush waits at most a week (as `status --timeout` allows); a timer could take 24 days. */
const MAX_FLUSH_MS = 7 * 86_400_000;

const rate = z.number().int().positive().nullable();
const relPath = z.string().min(1).max(4096);
const requestSchema = z.discriminatedUnion("cmd", [
  z.strictObject({ cmd: z.literal("status") }),
  z.strictObject({ cmd: z.literal("flush"), timeoutMs: z.number().int().positive().max(MAX_FLUSH_MS) }),
  z.strictObject({ cmd: z.literal("pause") }),
  z.strictObject({ cmd: z.literal("resume") }),
  z.strictObject({ cmd: z.literal("exclude"), path: relPath }),
  z.strictObject({ cmd: z.literal("include"), path: relPath }),
  z.strictObject({ cmd: z.literal("limits"), limits: z.strictObject({ up: rate, down: rate }) }),
]);

/** Serves the control requests of `dropsim status`, `pause`, … for the client of `root`. */
export function serveControl(root: string, client: Controlled): Promise<LocalListener> {
  return listenLocal(controlAddress(root), (raw) => answer(client, parseRequest(raw)));
}

export function parseRequest(raw: unknown): ControlRequest {
  const r = requestSchema.safeParse(raw);
  if (!r.success) throw new DropsimError("bad_message", `Invalid control request: ${r.error.issues[0]?.message ?? "unknown shape"}`);
  return r.data;
}

/** The reply to one request; a refusal (a DropsimError) becomes an error reply where the socket sends it. */
export async function answer(client: Controlled, req: ControlRequest): Promise<ControlReply> {
  switch (req.cmd) {
    case "status":
      return { ok: true, status: client.status() };
    case "flush": {
      const inSync = await client.flush(req.timeoutMs);
      return { ok: true, status: client.status(), inSync };
    }
    case "pause":
      client.pause();
      return { ok: true, status: client.status() };
    case "resume":
      client.resume();
      return { ok: true, status: client.status() };
    case "exclude": {
      const excluded = await client.exclude(req.path);
      return { ok: true, status: client.status(), excluded };
    }
    case "include":
      await client.include(req.path);
      return { ok: true, status: client.status() };
    case "limits":
      client.setLimits(req.limits);
      return { ok: true, status: client.status() };
  }
}
