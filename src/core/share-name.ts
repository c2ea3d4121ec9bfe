/**
 * A share's name is a folder name on the server (`shares/<name>/`) and a path segment of a join
 * link, so it is kept to what is safe as both everywhere: letters, digits, `.`, `_`, `-`, not
 * starting with a dot, at most 64 characters (the protocol's bound).
 */
const SHARE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

export function shareNameProblem(name: string): string | undefined {
  if (SHARE_NAME.test(name)) return undefined;
  return "expected 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'";
}
