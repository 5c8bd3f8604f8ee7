// OpenFeature evaluation context → the context parts of a Switchyard event, read the way the
// server reads the context of an OFREP request (`Context::from_openfeature` in
// crates/engine/src/context.rs), so a metric lands on the same contexts as the exposures the
// server recorded for that request.

const MAX_NAME_BYTES = 256;
const encoder = new TextEncoder();

/** Whether `name` is 1 to 256 bytes of UTF-8 (the server's bound on names and kinds). */
export function validName(name) {
  if (typeof name !== 'string' || name.length === 0) return false;
  // At most three UTF-8 bytes per UTF-16 unit: short strings need no encoding.
  return name.length * 3 <= MAX_NAME_BYTES || encoder.encode(name).length <= MAX_NAME_BYTES;
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function part(kind, body) {
  if (!validName(kind) || kind === 'kind' || kind === 'multi') return null;
  if (!isObject(body) || typeof body.key !== 'string') return null;
  return { kind, key: body.key };
}

/**
 * The `[{kind, key}]` parts of an OpenFeature context, or `null` when the server would refuse it:
 * - no `kind`: one `user` keyed by `targetingKey` (absent: an anonymous `user` with key `""`);
 * - `kind: "multi"`: every other property is a kind whose object has a string `key`;
 * - any other `kind`: one part of that kind, keyed by the context's `key`.
 */
export function contextParts(context) {
  const ctx = context ?? {};
  if (!isObject(ctx)) return null;
  if (!('kind' in ctx)) {
    const key = ctx.targetingKey;
    if (key === undefined) return [{ kind: 'user', key: '' }];
    return typeof key === 'string' ? [{ kind: 'user', key }] : null;
  }
  if (ctx.kind === 'multi') {
    const parts = [];
    for (const [kind, body] of Object.entries(ctx)) {
      if (kind === 'kind') continue;
      const one = part(kind, body);
      if (!one) return null;
      parts.push(one);
    }
    return parts.length > 0 ? parts : null;
  }
  if (typeof ctx.kind !== 'string') return null;
  const one = part(ctx.kind, ctx);
  return one ? [one] : null;
}
