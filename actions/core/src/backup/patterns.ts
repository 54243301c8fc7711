import { InputError } from '../errors.js';
import type { BackupSource } from './source.js';
import { SOURCE_KINDS } from './sources/index.js';

type Kind = BackupSource['kind'];

/** What include/exclude patterns a kind of source takes; each source module exports its own. */
export interface PatternSyntax {
  kind: Kind;
  /** "PostgreSQL table pattern": what a pattern of this kind is called in messages. */
  label: string;
  /** How its sources are written in `sources`, for messages. */
  scheme: string;
  /**
   * Whether `pattern` can be one of this kind's: `strong` when its shape says so (a Redis key with
   * a `:`), `weak` when it merely could be, undefined when it cannot.
   */
  fits(pattern: string): 'strong' | 'weak' | undefined;
  /** What a source of this kind always adds to the selection (Redis: the deploy state stays out). */
  complete?(selection: Selection): Selection;
}

export interface Selection {
  include: string[];
  exclude: string[];
}

const SYNTAXES: readonly PatternSyntax[] = SOURCE_KINDS.map((kind) => kind.patterns);

const syntaxOf = (kind: Kind): PatternSyntax => SYNTAXES.find((each) => each.kind === kind) as PatternSyntax;

/**
 * Splits `include` and `exclude` between the kinds of source a run has (docs/backup.md, "include
 * and exclude"): `postgres:`, `redis:` or `file:` in front says which; otherwise the kinds the
 * entry can be, and among several the one its shape points to. An entry no source can use, or
 * one that could be either of two, is an input error.
 */
export function splitPatterns(
  inputs: { include?: string[]; exclude?: string[] },
  kinds: Iterable<Kind>,
): Record<Kind, Selection> {
  const present = SYNTAXES.filter((syntax) => [...kinds].includes(syntax.kind));
  const split = Object.fromEntries(
    SYNTAXES.map((syntax) => [syntax.kind, { include: [] as string[], exclude: [] as string[] }]),
  ) as Record<Kind, Selection>;
  for (const input of ['include', 'exclude'] as const)
    for (const entry of inputs[input] ?? []) {
      const { kind, pattern } = route(input, entry, present);
      split[kind][input].push(pattern);
    }
  for (const syntax of present) if (syntax.complete) split[syntax.kind] = syntax.complete(split[syntax.kind]);
  return split;
}

/** The selection a part of `kind` is taken with, by that kind's own rules. */
export function completeSelection(kind: Kind, selection: Selection): Selection {
  return syntaxOf(kind).complete?.(selection) ?? selection;
}

function route(
  input: 'include' | 'exclude',
  entry: string,
  present: readonly PatternSyntax[],
): { kind: Kind; pattern: string } {
  const prefixed = SYNTAXES.find((syntax) => entry.startsWith(`${syntax.kind}:`));
  if (prefixed) {
    const pattern = entry.slice(prefixed.kind.length + 1);
    if (pattern === '')
      throw new InputError(input, `"${entry}" names no pattern; write ${prefixed.kind}:PATTERN`);
    if (!present.includes(prefixed))
      throw new InputError(
        input,
        `"${entry}" is a ${prefixed.label}, and sources has no ${prefixed.scheme} source; remove it or add the source`,
      );
    return { kind: prefixed.kind, pattern };
  }
  const fitting = present.filter((syntax) => syntax.fits(entry) !== undefined);
  const strong = fitting.filter((syntax) => syntax.fits(entry) === 'strong');
  const [only] = fitting.length === 1 ? fitting : strong.length === 1 ? strong : [];
  if (only) return { kind: only.kind, pattern: entry };
  if (fitting.length === 0)
    throw new InputError(
      input,
      `"${entry}" fits no source of this backup: it is not a ${present.map((syntax) => syntax.label).join(' or ')}`,
    );
  const candidates = strong.length > 1 ? strong : fitting;
  throw new InputError(
    input,
    `"${entry}" could be a ${candidates.map((syntax) => syntax.label).join(' or a ')}; write ${candidates
      .map((syntax) => `${syntax.kind}:${entry}`)
      .join(' or ')}`,
  );
}
