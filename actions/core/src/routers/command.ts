// router: command — the user's own executable steers traffic (a cloud load balancer, Traefik, Caddy,
// a script that ssh-es into the balancers). It runs as argv, never through a shell, with the weights in
// its environment:
//   SWITCHYARD_BLUE_WEIGHT, SWITCHYARD_GREEN_WEIGHT   whole percentages adding up to 100
//   SWITCHYARD_ACTIVE                                 blue or green: the colour with the larger share;
//                                                     on 50/50 the one gaining traffic compared with the
//                                                     previous change, or green when there was none
//   SWITCHYARD_BLUE_SERVERS, SWITCHYARD_GREEN_SERVERS the blue and green inputs, comma-separated
// Exit code 0 means the weights are in force; anything else fails the change, with the end of what the
// command wrote to stderr in the error. What it writes reaches the log line by line as it runs. It may run
// for router-command-timeout (default 30 s); then, or when the workflow is cancelled, it and everything it
// started get SIGTERM, and SIGKILL a few seconds later.
//
// read() runs nothing and answers "unknown": the contract above only knows one verb, and a script
// written to it would treat a second call without weights as an order to set empty ones. The deploy
// state then stands for what the command last accepted.
import { commandLine, duration, type InputTable } from '../inputs.js';
import { UserError } from '../errors.js';
import { formatCommand, outcomeOf, outputTail, succeeded } from '../process.js';
import {
  checkWeights,
  required,
  type ApplyOptions,
  type Color,
  type Router,
  type RouterKind,
  type RouterOptions,
  type Verification,
  type Weights,
} from './router.js';
import { verifyThroughUrl } from './verify.js';

/** Setting weights is one API call or a config push; a hung one must not hold traffic half-moved. */
export const ROUTER_COMMAND_TIMEOUT_MS = 30_000;

/** The inputs only router: command reads. */
export const commandInputs = {
  'router-command': commandLine(
    'router: command — an executable that receives SWITCHYARD_BLUE_WEIGHT, SWITCHYARD_GREEN_WEIGHT and SWITCHYARD_ACTIVE.',
    {
      example: './scripts/set-weights.sh',
    },
  ),
  'router-command-timeout': duration(
    'router: command — how long the executable may take to set the weights; then it and what it started get SIGTERM, then SIGKILL.',
    { default: '30s', min: 1 },
  ),
} satisfies InputTable;

export const commandRouterKind: RouterKind<'command', typeof commandInputs> = {
  kind: 'command',
  inputs: commandInputs,
  check: (options) => required('command', 'router-command', options.command),
  create: (options) => new CommandRouter({ ...options, command: options.command as string[] }),
};

/** The colour that counts as active for a change (see the top of this file). */
export function activeColor(weights: Weights, previous: Weights | undefined): Color {
  if (weights.blue !== weights.green) return weights.blue > weights.green ? 'blue' : 'green';
  return previous !== undefined && previous.blue < weights.blue ? 'blue' : 'green';
}

export class CommandRouter implements Router {
  readonly kind = 'command';
  private applied: Weights | undefined;

  constructor(private readonly options: RouterOptions & { command: string[] }) {}

  async read(): Promise<Weights | undefined> {
    return undefined;
  }

  async apply(weights: Weights, options: ApplyOptions = {}): Promise<void> {
    checkWeights(weights);
    const { command, runner, log } = this.options;
    const env = {
      ...process.env,
      SWITCHYARD_BLUE_WEIGHT: String(weights.blue),
      SWITCHYARD_GREEN_WEIGHT: String(weights.green),
      SWITCHYARD_ACTIVE: activeColor(weights, this.applied),
      SWITCHYARD_BLUE_SERVERS: this.options.blue.join(','),
      SWITCHYARD_GREEN_SERVERS: this.options.green.join(','),
    };
    log(
      `$ SWITCHYARD_BLUE_WEIGHT=${env.SWITCHYARD_BLUE_WEIGHT} SWITCHYARD_GREEN_WEIGHT=${env.SWITCHYARD_GREEN_WEIGHT} ` +
        `SWITCHYARD_ACTIVE=${env.SWITCHYARD_ACTIVE} ${formatCommand(command)}`,
    );
    const result = await runner.run(command, {
      env,
      timeoutMs: this.options.commandTimeoutMs ?? ROUTER_COMMAND_TIMEOUT_MS,
      ...(options.signal ? { signal: options.signal } : {}),
      onLine: (line) => log(`  ${line}`),
    });
    if (!succeeded(result)) {
      throw new UserError(
        `router-command \`${formatCommand(command)}\` ${outcomeOf(result)} setting blue ${weights.blue} / green ` +
          `${weights.green}:\n${outputTail(result)}\nswitchyard counts the weights as not set; anything the command ` +
          'changed before it failed is for the command to undo.',
        'router-command failed',
      );
    }
    this.applied = { ...weights };
  }

  /** Through verify-url when set; else only the command's word (its exit code) is there to go on. */
  async verify(weights: Weights): Promise<Verification> {
    if (this.options.verifyUrl) return verifyThroughUrl(this.options.verifyUrl, weights);
    const accepted = this.applied?.blue === weights.blue && this.applied.green === weights.green;
    return accepted
      ? {
          ok: true,
          detail: `router-command accepted blue ${weights.blue} / green ${weights.green} (exit code 0; set verify-url to sample the traffic itself)`,
        }
      : {
          ok: false,
          detail: `router-command has not set blue ${weights.blue} / green ${weights.green} in this run, and without verify-url nothing else can show it`,
        };
  }
}
