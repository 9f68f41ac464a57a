// Pulumi property paths (`metadatas[*].userData`, `tags["a.b"]`), as ignoreChanges, replaceOnChanges and
// the provider facts write them, and the one question a diff asks of them.

/** `metadatas[*].userData` -> ["metadatas", "*", "userData"]; `tags["a.b"]` -> ["tags", "a.b"]. */
export function pathSegments(pattern: string): string[] {
  const segments: string[] = [];
  const re = /([^.[\]]+)|\[(\d+|\*)\]|\["((?:[^"\\]|\\.)*)"\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(pattern)) !== null) segments.push(m[1] ?? m[2] ?? (JSON.parse(`"${m[3]}"`) as string));
  return segments;
}

/** True when one path lies inside the other (`*` matches any one segment): a change at either touches both. */
export function pathsOverlap(pattern: string, changed: string): boolean {
  const a = pathSegments(pattern);
  const b = pathSegments(changed);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== "*" && b[i] !== "*" && a[i] !== b[i]) return false;
  }
  return true;
}

/** `a.b[0].c`; keys that are not plain names as `["key"]`. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return base === "" ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}
