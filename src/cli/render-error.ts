/** The one error formatter: `error[CODE]: message`, then `hint: …`; a stack only with --debug. */
import { PullError, redactUrl } from '../errors.js';

/** Returns the lines to print on stderr for a failure. */
export function renderError(err: unknown, options: { debug: boolean }): string {
  const lines: string[] = [];
  if (err instanceof PullError) {
    lines.push(`error[${err.code}]: ${oneLine(err.message)}`);
    if (err.hint) lines.push(`hint: ${oneLine(err.hint)}`);
  } else {
    const message = err instanceof Error ? err.message : String(err);
    lines.push(`error[ERR_UNEXPECTED]: ${oneLine(message)}`);
    if (!options.debug) lines.push('hint: this is a bug in dray; rerun with --debug for details and report it');
  }
  if (options.debug) lines.push(...stackOf(err));
  return `${lines.join('\n')}\n`;
}

function stackOf(err: unknown): string[] {
  const out: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current instanceof Error && depth < 5; depth += 1) {
    out.push(redactText(current.stack ?? String(current)));
    current = current.cause;
    if (current instanceof Error) out.push('caused by:');
  }
  return out;
}

function oneLine(text: string): string {
  return redactText(text).replace(/\s*\n\s*/g, ' ');
}

/** Redacts every URL in free text (messages may embed URLs from deep in a cause chain). */
function redactText(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s"'<>]+/g, (url) => redactUrl(url));
}
