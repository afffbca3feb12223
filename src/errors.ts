/**
 * An error the user can fix: the CLI prints its message as one line and exits non-zero, with no
 * stack trace unless --debug is given. Messages name the file and the field where there is one.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(oneLine(message));
    this.name = 'UserError';
  }
}

/** Control characters (a newline in a path or name the message quotes) as escapes: the message stays one line. */
function oneLine(text: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r' };
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f\u0085\u2028\u2029]/g, (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Node's words for a file-system error ("permission denied", "not a directory"), or its code. */
export function fsReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  // "ENOENT: no such file or directory, open '/x'": the words, without the call and path.
  return /^[A-Z]+: (.*?)(?:, \w+ '.*)?$/s.exec(e.message ?? '')?.[1] ?? e.code ?? String(err);
}
