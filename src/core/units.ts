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
