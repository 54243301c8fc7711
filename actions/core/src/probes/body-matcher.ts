import { InputError } from '../errors.js';
import type { BodyMatcher } from './probe.js';

/** Whether a body passes; made once per matcher by `prepareBodyMatcher`. */
export type BodyTest = (body: string) => boolean;

const prepared = new WeakMap<BodyMatcher, Promise<BodyTest>>();

/** What RE2 cannot do, recognised in a pattern it refused, to say so in the user's terms. */
const UNSUPPORTED: [RegExp, string][] = [
  [/\\[1-9]|\\k</, 'backreferences (\\1, \\k<name>)'],
  [/\(\?[=!]/, 'lookahead ((?=…), (?!…))'],
];

/** The part of a refusal that names a feature RE2 lacks, when the pattern uses one. */
export function unsupportedFeature(pattern: string): string | undefined {
  return UNSUPPORTED.find(([found]) => found.test(pattern))?.[1];
}

/**
 * The matcher's test. A regex runs on RE2 (re2js), whose matching time grows linearly with the
 * body: a pattern that backtracks catastrophically in JavaScript (`/^(a+)+$/`) cannot hold a probe
 * past its timeout, since a synchronous match cannot be cut off. The engine is loaded on first use
 * (its own chunk of the bundle), so a check without a regex does not pay for it at start-up.
 * A pattern RE2 refuses is an input error on `expect-body`; callers prepare before anything runs.
 */
export function prepareBodyMatcher(matcher: BodyMatcher): Promise<BodyTest> {
  let test = prepared.get(matcher);
  if (!test) {
    test = compile(matcher);
    prepared.set(matcher, test);
  }
  return test;
}

async function compile(matcher: BodyMatcher): Promise<BodyTest> {
  if (matcher.kind === 'substring') return (body) => body.includes(matcher.text);
  const { RE2JS } = await import('re2js');
  let mask = 0;
  for (const flag of matcher.flags) {
    if (flag === 'i') mask |= RE2JS.CASE_INSENSITIVE;
    if (flag === 'm') mask |= RE2JS.MULTILINE;
    if (flag === 's') mask |= RE2JS.DOTALL;
  }
  try {
    // re2js runs lookbehinds without captures in linear time too, so those are allowed.
    const regex = RE2JS.compile(RE2JS.translateRegExp(matcher.pattern), mask | RE2JS.LOOKBEHINDS);
    return (body) => regex.test(body);
  } catch (error) {
    const lacking = unsupportedFeature(matcher.pattern);
    throw new InputError(
      'expect-body',
      lacking
        ? `${matcher.source} uses ${lacking}, which the linear-time engine (RE2) that runs expect-body lacks; rewrite it without, or match a plain substring`
        : `${matcher.source} is not a valid regular expression for RE2 (${(error as Error).message.replace(/^error parsing regexp: /, '')})`,
    );
  }
}
