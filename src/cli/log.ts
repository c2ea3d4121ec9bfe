import { consola, type ConsolaReporter, LogLevels, type LogObject } from "consola";
import * as fs from "node:fs";
import { inspect } from "node:util";
import { DropsimError } from "../core/errors.ts";
import { formatRecord, LogFold, type LogFormat, type LogLevel, type LogRecord } from "../core/log.ts";

/** Flags every command shares for how much it says, how, and where. */
export const logArgs = {
  verbose: { type: "boolean", alias: "v", description: "Log every transfer and decision", default: false },
  quiet: { type: "boolean", alias: "q", description: "Log only warnings and errors", default: false },
  "log-format": { type: "string", description: "text (one line each, ISO 8601 time first) or json (one object per line)", default: "text" },
  "log-file": { type: "string", description: "Append log lines to FILE instead of the terminal (errors and progress still show there)" },
} as const;

export interface LogFlags {
  verbose?: boolean;
  quiet?: boolean;
  "log-format"?: string;
  "log-file"?: string;
}

/**
 * A line redrawn in place at the bottom of the terminal (the progress line): erased before a
 * log line is written and drawn again after, so the two never mix.
 */
export interface LiveLine {
  clear(): void;
  draw(): void;
}

let live: LiveLine | undefined;

export function setLiveLine(line: LiveLine | undefined): void {
  live = line;
}

/**
 * Sets the level and replaces consola's reporters with ours: every line stamped, no blank lines
 * around warnings (the fancy reporter's boxes), repeats folded. Returns the tagged logger.
 */
export function setupLog(args: LogFlags, tag: string) {
  consola.level = args.verbose ? LogLevels.debug : args.quiet ? LogLevels.warn : LogLevels.info;
  consola.setReporters([_reporter(parseLogFormat(args["log-format"] ?? "text"), args["log-file"])]);
  return consola.withTag(tag);
}

export function parseLogFormat(value: string): LogFormat {
  if (value === "text" || value === "json") return value;
  throw new DropsimError("bad_message", `Invalid log format "${value}": expected text or json`);
}

/** consola's type → our level (consola's numeric levels put "success" and "info" together too). */
function _level(type: LogObject["type"]): LogLevel {
  switch (type) {
    case "fatal":
    case "error":
      return "error";
    case "warn":
      return "warn";
    case "debug":
      return "debug";
    case "trace":
    case "verbose":
      return "trace";
    default:
      return "info";
  }
}

function _message(args: unknown[]): string {
  const debug = process.env.DROPSIM_DEBUG === "1";
  return args.map((a) => (typeof a === "string" ? a : a instanceof Error ? (debug ? (a.stack ?? a.message) : a.message) : inspect(a))).join(" ");
}

function _reporter(format: LogFormat, file: string | undefined): ConsolaReporter {
  const fd = file === undefined ? undefined : _openLogFile(file);
  const fold = new LogFold();
  let timer: ReturnType<typeof setTimeout> | undefined;

  const write = (r: LogRecord) => {
    const line = `${formatRecord(r, format)}\n`;
    if (fd !== undefined) fs.writeSync(fd, line);
    // With a log file the terminal keeps only what the user must see now.
    if (fd !== undefined && r.level !== "error") return;
    live?.clear();
    (r.level === "error" || r.level === "warn" ? process.stderr : process.stdout).write(line);
    live?.draw();
  };
  const closeWindows = () => {
    timer = undefined;
    for (const r of fold.due(Date.now())) write(r);
    schedule();
  };
  const schedule = () => {
    const next = fold.nextDue;
    if (next === undefined || timer !== undefined) return;
    timer = setTimeout(closeWindows, Math.max(0, next - Date.now()));
    timer.unref?.();
  };
  process.on("exit", () => {
    for (const r of fold.due(Date.now(), true)) write(r);
  });

  return {
    log(obj) {
      const r: LogRecord = { time: obj.date, level: _level(obj.type), tag: obj.tag, message: _message(obj.args) };
      for (const out of fold.offer(r, obj.date.getTime())) write(out);
      schedule();
    },
  };
}

function _openLogFile(file: string): number {
  try {
    return fs.openSync(file, "a", 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DropsimError("io", `Cannot write the log file ${file}: ${code === "EACCES" ? "permission denied" : code === "ENOENT" ? "its folder does not exist" : (e as Error).message} (choose another --log-file)`);
  }
}
