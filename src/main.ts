#!/usr/bin/env bun
import { defineCommand } from "citty";
import { runCli } from "./cli/command.ts";
import { fail } from "./cli/error-boundary.ts";
import { VERSION_LINE } from "./cli/version.ts";

const main = defineCommand({
  meta: {
    name: "dropsim",
    version: VERSION_LINE,
    description: "Self-hosted file sync: one server, any number of synced folders.",
    examples: ["dropsim serve --data ./dropsim-data", "dropsim token create --share default", "dropsim sync ~/Dropsim --join 'dropsim://host:7070/default?token=…'", "dropsim status ~/Dropsim --wait", "dropsim help sync"],
  },
  subCommands: {
    serve: () => import("./cli/serve.ts").then((m) => m.default),
    sync: () => import("./cli/sync.ts").then((m) => m.default),
    status: () => import("./cli/status.ts").then((m) => m.default),
    conflicts: () => import("./cli/conflicts.ts").then((m) => m.default),
    pause: () => import("./cli/pause.ts").then((m) => m.pause),
    resume: () => import("./cli/pause.ts").then((m) => m.resume),
    exclude: () => import("./cli/exclude.ts").then((m) => m.exclude),
    include: () => import("./cli/exclude.ts").then((m) => m.include),
    limit: () => import("./cli/limit.ts").then((m) => m.default),
    fsck: () => import("./cli/fsck.ts").then((m) => m.default),
    share: () => import("./cli/share.ts").then((m) => m.default),
    token: () => import("./cli/token.ts").then((m) => m.default),
    gc: () => import("./cli/gc.ts").then((m) => m.default),
    history: () => import("./cli/history.ts").then((m) => m.default),
    restore: () => import("./cli/restore.ts").then((m) => m.default),
    trash: () => import("./cli/trash.ts").then((m) => m.default),
    config: () => import("./cli/config-cmd.ts").then((m) => m.default),
    help: () => import("./cli/help.ts").then((m) => m.default),
  },
});

process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
runCli(main, process.argv.slice(2)).catch(fail);
