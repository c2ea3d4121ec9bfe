/** The slice of a consola logger the server and the CLI use; tests can pass a silent one. A type only, so both sides may import it. */
export interface Log {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  success(...args: unknown[]): void;
}

export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";
export type LogFormat = "text" | "json";

/** One log line before it is written: what every format and sink shares. */
export interface LogRecord {
  time: Date;
  level: LogLevel;
  tag: string;
  message: string;
  /** Fields beyond the message (json only): an error's code, a fold's count. */
  extra?: Record<string, unknown>;
}

/** Same-message lines closer than this are folded into one "(repeated N times)". */
export const FOLD_MS = 1000;

/** 2026-12-02T05:46:31.123+01:00: ISO 8601 in local time with its offset, as people and log shippers both read it. */
export function isoTime(d: Date): string {
  const pad = (n: number, w = 2) => String(Math.trunc(Math.abs(n))).padStart(w, "0");
  const offset = -d.getTimezoneOffset();
  const zone = `${offset < 0 ? "-" : "+"}${pad(offset / 60)}:${pad(offset % 60)}`;
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `.${pad(d.getMilliseconds(), 3)}${zone}`
  );
}

/** `2026-12-02T05:46:31.123+01:00 WARN  [sync] message`: one line, whatever the message holds. */
export function formatText(r: LogRecord): string {
  const tag = r.tag === "" ? "" : `[${r.tag}] `;
  return `${isoTime(r.time)} ${r.level.toUpperCase().padEnd(5)} ${tag}${_oneLine(r.message)}`;
}

/** One JSON object per line: {time, level, tag, message, ...extra}. */
export function formatJson(r: LogRecord): string {
  return JSON.stringify({ time: isoTime(r.time), level: r.level, tag: r.tag, message: r.message, ...r.extra });
}

export function formatRecord(r: LogRecord, format: LogFormat): string {
  return format === "json" ? formatJson(r) : formatText(r);
}

/** A multi-line message (a stack under DROPSIM_DEBUG) stays one record: continuation lines are indented. */
function _oneLine(message: string): string {
  return message.replace(/\r?\n/g, "\n    ");
}

interface Window {
  first: LogRecord;
  until: number;
  repeats: number;
}

/**
 * Folds a message said again within FOLD_MS of its first saying: the repeats are counted, not
 * written, and one "(repeated N times)" line closes the window. The clock (ms since the epoch) is passed in.
 */
export class LogFold {
  private readonly open = new Map<string, Window>();

  /** The records to write now for `r`: itself, or none while it repeats. */
  offer(r: LogRecord, now: number): LogRecord[] {
    const out = this.due(now);
    const key = `${r.level}\0${r.tag}\0${r.message}`;
    const w = this.open.get(key);
    if (w) {
      w.repeats++;
      return out;
    }
    this.open.set(key, { first: r, until: now + FOLD_MS, repeats: 0 });
    out.push(r);
    return out;
  }

  /**
   * The "(repeated N times)" lines of windows closed by `now` (or of all of them, at exit), oldest
   * first. Windows close in the order they opened (each lasts FOLD_MS; a clock set back only
   * delays a close), so the first one still open ends the look: with a line per file logged, scanning every open window per line made
   * logging quadratic (10 % of a client's CPU uploading 20,000 files).
   */
  due(now: number, all = false): LogRecord[] {
    const out: LogRecord[] = [];
    for (const [key, w] of this.open) {
      if (w.until > now && !all) break;
      this.open.delete(key);
      if (w.repeats > 0) out.push(_repeated(w, new Date(Math.min(now, w.until))));
    }
    return out;
  }

  /** When the next window closes, if any is open. */
  get nextDue(): number | undefined {
    for (const w of this.open.values()) return w.until;
    return undefined;
  }
}

function _repeated(w: Window, time: Date): LogRecord {
  const times = w.repeats === 1 ? "1 time" : `${w.repeats} times`;
  return { ...w.first, time, message: `${w.first.message} (repeated ${times})`, extra: { ...w.first.extra, repeated: w.repeats } };
}
