const BYTE_UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"];

/** 1073741824 → "1.0 GiB", 300 → "300 bytes": sizes as log lines and `status` show them. */
export function formatBytes(n: number): string {
  let unit = 0;
  while (n >= 1024 && unit < BYTE_UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} bytes` : `${n.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** 2300 → "2.3 s", 65000 → "1 min 5 s", 5400000 → "1 h 30 min": how long something took or will take. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 59.95) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  const [big, small, bigUnit, smallUnit] =
    whole < 3600 ? [Math.floor(whole / 60), whole % 60, "min", "s"] : whole < 86400 ? [Math.floor(whole / 3600), Math.floor(whole / 60) % 60, "h", "min"] : [Math.floor(whole / 86400), Math.floor(whole / 3600) % 24, "d", "h"];
  return small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`;
}

/** 20000 → "20,000", 1 → "1 file": counts as log lines show them. */
export function formatCount(n: number, noun?: string): string {
  const text = n.toLocaleString("en-US");
  return noun === undefined ? text : `${text} ${noun}${n === 1 ? "" : "s"}`;
}
