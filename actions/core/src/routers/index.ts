import { alternatives, InputError, UserErrors } from '../errors.js';
import { commandRouterKind } from './command.js';
import { haproxyRouterKind } from './haproxy.js';
import { nginxRouterKind } from './nginx.js';
import type { Router, RouterOptions } from './router.js';

export type {
  ApplyOptions,
  Color,
  Router,
  RouterKind,
  RouterOptions,
  Verification,
  Weights,
} from './router.js';
export { otherColor } from './router.js';

/** Every kind of router: adding one is adding its file and a line here. */
export const ROUTER_KINDS = [nginxRouterKind, haproxyRouterKind, commandRouterKind] as const;

export type RouterName = (typeof ROUTER_KINDS)[number]['kind'];

/** The `router` input's values, in the registry's order (its first is the example). */
export const ROUTER_NAMES = ROUTER_KINDS.map((each) => each.kind) as [RouterName, ...RouterName[]];

/**
 * The router of a kind, once every input it needs is present and well-formed; nothing is read,
 * written or run before that. All problems are reported together, each naming its input.
 */
export function createRouter(kind: RouterName, options: RouterOptions): Router {
  const problems = sharedProblems(options);
  const routerKind = ROUTER_KINDS.find((each) => each.kind === kind);
  if (routerKind) problems.push(...routerKind.check(options));
  else
    problems.push(
      new InputError('router', `"${String(kind)}" is not a router; use ${alternatives(ROUTER_NAMES)}`),
    );

  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) throw new UserErrors(problems);
  return (routerKind as (typeof ROUTER_KINDS)[number]).create(options);
}

/** Inputs every kind reads the same way. */
function sharedProblems(options: RouterOptions): InputError[] {
  if (options.verifyUrl === undefined) return [];
  let url: URL | undefined;
  try {
    url = new URL(options.verifyUrl);
  } catch {
    url = undefined;
  }
  return url && (url.protocol === 'http:' || url.protocol === 'https:')
    ? []
    : [new InputError('verify-url', 'must be an http:// or https:// URL that goes through the router')];
}
