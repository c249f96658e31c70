// Formats numbers, sizes, times and ids for display.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** Three significant digits at most, so columns of numbers stay narrow. */
function compact(value: number): string {
  if (value >= 100) return value.toFixed(0)
  if (value >= 10) return value.toFixed(1)
  return value.toFixed(2)
}

/** Bytes in binary units: `512 B`, `1.50 KiB`, `23.4 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–'
  let value = Math.abs(bytes)
  let unit = 0
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit++
  }
  const sign = bytes < 0 ? '-' : ''
  return unit === 0 ? `${sign}${value.toFixed(0)} B` : `${sign}${compact(value)} ${BYTE_UNITS[unit]}`
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`
}

/** A share (0..1) as a percentage. */
export function formatPercent(share: number | undefined, digits = 1): string {
  return share === undefined || !Number.isFinite(share) ? '–' : `${(share * 100).toFixed(digits)}%`
}

/**
 * A duration in ms, in its two largest units: `3d 4h`, `2h 13m`, `5m 12s`, `12s`. Negative durations (clock
 * skew between node and browser in "now − then") read as `0s`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–'
  const seconds = Math.floor(Math.max(0, ms) / 1000)
  const days = Math.floor(seconds / 86_400)
  const hours = Math.floor((seconds % 86_400) / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  if (days > 0) return `${days}d ${hours}h`
  if (hours > 0) return `${hours}h ${minutes}m`
  if (minutes > 0) return `${minutes}m ${seconds % 60}s`
  return `${seconds}s`
}

/** Seconds with two decimals below a minute (`0.42 s`, `12.07 s`), else as a duration. */
export function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '–'
  return seconds < 60 ? `${seconds.toFixed(2)} s` : formatDuration(seconds * 1000)
}

/** A loss or similar real value with four significant digits. */
export function formatValue(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toPrecision(4)
}

const compactNumber = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 })
const plainNumber = new Intl.NumberFormat('en', { maximumFractionDigits: 1 })

/** Counts: `1,234`, or `1.2M` when `short`. */
export function formatCount(value: number, short = false): string {
  return short ? compactNumber.format(value) : plainNumber.format(value)
}

/** A peer id as `12D3KooW…a1b2c3`: long enough to tell peers apart, short enough for a table. */
export function shortId(id: string): string {
  return id.length <= 16 ? id : `${id.slice(0, 8)}…${id.slice(-6)}`
}

/** Local wall-clock time of an epoch-ms instant: `14:03:27`. */
export function formatClock(at: number): string {
  return new Date(at).toLocaleTimeString(undefined, { hour12: false })
}

/** Local date and time of an epoch-ms instant. */
export function formatDateTime(at: number): string {
  return new Date(at).toLocaleString(undefined, { hour12: false })
}

/** How long ago an epoch-ms instant was, relative to `now`: `5m 12s ago`. */
export function formatAgo(at: number, now = Date.now()): string {
  return `${formatDuration(now - at)} ago`
}
