/** Flag value parsers: each returns the value or throws UsageError naming the flag. */
import { UsageError } from '../errors.js';

/** Returns a positive integer (within [min, max]). */
export function parseIntegerFlag(flag: string, text: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag} takes a whole number, not "${text}"`);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`${flag} must be between ${min} and ${max}, not ${value}`);
  return value;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 };

/** Returns bytes from "16M", "16MiB", "8mb", "1048576". */
export function parseSizeFlag(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new UsageError(`${flag} takes a size like 16M or 16MiB, not "${text}"`);
  const bytes = Math.round(Number(match[1]) * unit);
  if (bytes < 1) throw new UsageError(`${flag} must be at least 1 byte`);
  return bytes;
}

/** Returns milliseconds from "30", "30s", "500ms", "2m", "12h", "30d", "2w". */
export function parseDurationFlag(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag} takes a duration like 30s, 500ms, 2m or 30d, not "${text}"`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[match[2] ?? 's'] ?? 1000;
  return Math.round(Number(match[1]) * factor);
}
