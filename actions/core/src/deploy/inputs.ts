import { z } from 'zod';
import { healthCheckInputs } from '../health-check/inputs.js';
import {
  boolean,
  commandLine,
  duration,
  integer,
  list,
  oneOf,
  parsedBy,
  text,
  type InputDef,
} from '../inputs.js';
import { branchProblem, labelItem, shaProblem } from '../rollback-pr/names.js';
import { healthPathProblem } from '../probes/http.js';
import { commandRouterKind } from '../routers/command.js';
import { haproxyRouterKind } from '../routers/haproxy.js';
import { ROUTER_NAMES } from '../routers/index.js';
import { nginxRouterKind } from '../routers/nginx.js';

/** A server of a colour. */
export interface Server {
  /** host:port, as the router writes it. */
  address: string;
}

/** `host:port` (IPv6 in brackets), or a message saying what is wrong. */
export function parseServer(entry: string): Server | string {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
    return `"${entry}" is not host:port (e.g. 10.0.0.5:8080)`;
  }
  return { address: entry };
}

function servers(description: string) {
  return list(description, parseServer, { commas: true, example: '10.0.0.5:8080,10.0.0.6:8080' });
}

/** `10,25,50,75,100`: whole percentages, strictly increasing, ending at 100. */
export function parseSteps(raw: string): number[] | string {
  const parts = raw.split(/[\s,]+/).filter(Boolean);
  const steps: number[] = [];
  for (const part of parts) {
    if (!/^\d+%?$/.test(part)) return `"${part}" is not a whole percentage`;
    const value = Number(part.replace('%', ''));
    if (value < 1 || value > 100) return `${value} is outside 1–100`;
    if (steps.length > 0 && value <= (steps[steps.length - 1] as number)) {
      return `steps must increase: ${steps[steps.length - 1]} is followed by ${value}`;
    }
    steps.push(value);
  }
  if (steps.length === 0) return 'no step given';
  if (steps[steps.length - 1] !== 100)
    return `the last step must be 100 (all traffic), not ${steps[steps.length - 1]}`;
  return steps;
}

function steps(description: string) {
  return parsedBy(description, (raw) => parseSteps(raw.replaceAll('\n', ',')), {
    default: '10,25,50,75,100',
    example: '10,25,50,75,100',
    file: z.union([z.string(), z.array(z.number().int().min(1).max(100))]),
  });
}

const optional = <T extends InputDef>(def: T) => ({ ...def, required: undefined }) as T;

export const deployInputs = {
  command: oneOf(
    ['status', 'plan', 'stage', 'shift', 'promote', 'rollback', 'revert'],
    'What to do. revert opens the rollback pull request alone, leaving traffic as it is (the bad build never had any, e.g. it failed its load test).',
    { default: 'status' },
  ),
  router: oneOf(ROUTER_NAMES, 'What steers traffic between blue and green.', {
    default: 'nginx',
  }),
  blue: servers('Blue servers, host:port, comma-separated.'),
  green: servers('Green servers, host:port, comma-separated.'),
  ...nginxRouterKind.inputs,
  'verify-url': text(
    'A URL through the router whose responses name their colour (x-switchyard-color header or body); sampled after each change.',
    {
      example: 'http://127.0.0.1/whoami',
    },
  ),
  ...haproxyRouterKind.inputs,
  ...commandRouterKind.inputs,
  'stage-command': commandLine(
    'stage: deploys `version` to the idle colour; gets SWITCHYARD_COLOR, SWITCHYARD_VERSION and SWITCHYARD_SERVERS.',
    {
      example: './deploy.sh',
    },
  ),
  'stage-command-timeout': duration(
    'stage: how long stage-command may run; then it and what it started get SIGTERM, then SIGKILL.',
    { default: '10m', min: 1 },
  ),
  version: text('The version being staged or promoted (shown in status and history).', { example: 'v1.4.2' }),
  'health-path': text(
    'Path probed directly on every server of a colour: stage waits for it, promote watches the idle colour through it.',
    { default: '/', example: '/health', check: healthPathProblem },
  ),
  'stage-timeout': duration('stage: how long the idle colour may take to become healthy.', { default: '5m' }),
  steps: steps("promote: the idle colour's traffic share at each step, in percent, ending at 100."),
  'step-duration': duration('promote: how long each step is held while the analysis runs.', {
    default: '1m',
  }),
  weight: integer("shift: the idle colour's share of traffic, 0–100.", { max: 100 }),
  reason: text('rollback: why (recorded in the history with the actor).', { default: 'manual rollback' }),
  'migration-phase': oneOf(
    ['none', 'expand', 'contract'],
    "promote, rollback: the phase of the migrations applied for this release, as validate-migration run outputs it (its `phase`). contract: the old colour's code would break on the new schema, so a promotion that fails freezes traffic at the split it has instead of putting the old colour back, and rollback refuses without force-rollback.",
    { default: 'none' },
  ),
  'force-rollback': boolean(
    'rollback, shift: move traffic back to the old colour although a contract-phase migration was applied (migration-phase: contract, or a promotion frozen for one). Only once the database is restored from the backup taken before the migration, or the old code is known to work on the new schema.',
    { default: 'false' },
  ),
  state: text('Where history and the deploy lock live: file:PATH or redis://host:port/db.', {
    default: 'file:.switchyard/state.json',
  }),
  'lock-timeout': duration('How long to wait for another run holding the deploy lock.', { default: '10m' }),
  'github-token': text(
    'Records a GitHub deployment for `environment` with its statuses, and opens the rollback pull request.',
    {
      secret: true,
      example: '${{ github.token }}',
    },
  ),
  'rollback-pr': boolean(
    'promote and rollback: after a rollback (a breached promotion, or the rollback command), open a pull request reverting every commit after the last good one. Needs github-token and a checkout with an `origin` to push to.',
    { default: 'false' },
  ),
  'good-sha': text(
    'The last good commit when neither the deploy state nor GitHub deployments know it (the state and deployments win).',
    { example: '1a2b3c4d5e6f', check: shaProblem },
  ),
  'base-branch': text(
    "The branch the rollback pull request targets; the repository's default branch when empty.",
    { example: 'main', check: branchProblem },
  ),
  labels: list('Labels for the rollback pull request (created when missing).', labelItem, {
    default: 'rollback',
    commas: true,
    example: 'rollback,incident',
  }),
  draft: boolean('Open the rollback pull request as a draft.', { default: 'false' }),
  // The analysis: health-check's own names and meanings.
  targets: optional(healthCheckInputs.targets),
  timeout: healthCheckInputs.timeout,
  'expect-status': healthCheckInputs['expect-status'],
  'expect-body': healthCheckInputs['expect-body'],
  headers: healthCheckInputs.headers,
  interval: duration('Time between analysis probes.', { default: '5s', min: 1 }),
  'max-error-rate': healthCheckInputs['max-error-rate'],
  'max-p95': healthCheckInputs['max-p95'],
  'failure-limit': healthCheckInputs['failure-limit'],
  'min-samples': healthCheckInputs['min-samples'],
  'k6-summary': healthCheckInputs['k6-summary'],
  'k6-thresholds': healthCheckInputs['k6-thresholds'],
} satisfies Record<string, InputDef>;
