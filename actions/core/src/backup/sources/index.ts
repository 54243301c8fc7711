import type { SourceKind } from '../source.js';
import { fileSourceKind } from './file.js';
import { postgresSourceKind } from './postgres.js';
import { redisSourceKind } from './redis.js';

/** Every kind of backup source: adding one is adding its file and a line here. */
export const SOURCE_KINDS = [postgresSourceKind, redisSourceKind, fileSourceKind] as const;

export type SourceName = (typeof SOURCE_KINDS)[number]['kind'];

/** The kinds a manifest's part may be, in the registry's order. */
export const SOURCE_NAMES = SOURCE_KINDS.map((each) => each.kind) as [SourceName, ...SourceName[]];

/** The kind of a part or source; whatever carries a SourceName was read by a registered kind. */
export function sourceKindNamed(kind: SourceName): SourceKind {
  return SOURCE_KINDS.find((each) => each.kind === kind) as SourceKind;
}
