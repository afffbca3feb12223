/**
 * An error the user can fix: the CLI prints its message as one line and exits non-zero, with no
 * stack trace unless --debug is given. Messages name the file and the field where there is one.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Node's words for a file-system error ("permission denied", "not a directory"), or its code. */
export function fsReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  // "ENOENT: no such file or directory, open '/x'": the words, without the call and path.
  return /^[A-Z]+: (.*?)(?:, \w+ '.*)?$/s.exec(e.message ?? '')?.[1] ?? e.code ?? String(err);
}
