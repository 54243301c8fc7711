import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../clock.js';
import { InputError, UserError, messageOf } from '../errors.js';
import type { InputValues } from '../inputs.js';
import type { ActionIO } from '../io.js';
import { redactUrl } from '../mask.js';
import type { ProcessRunner } from '../process.js';
import { SWITCHYARD_VERSION } from '../report.js';
import { count, formatBytes } from '../summary.js';
import { COMPRESSION_SUFFIX, Digest, compressor, decompressor } from './compression.js';
import type { BackupCommand, SourceSpec, backupInputs } from './inputs.js';
import {
  MANIFEST_FORMAT,
  manifestSha256,
  parseManifest,
  serializeManifest,
  type Manifest,
  type ManifestPart,
} from './manifest.js';
import { openSource, openStore, openTarget, type OpenContext } from './open.js';
import { completeSelection, splitPatterns, type Selection } from './patterns.js';
import { sourceKindNamed } from './sources/index.js';
import type { BackupSource, RestoreMode, SourceContext } from './source.js';
import { removeLeftovers, systemProcesses, type Processes } from './leftovers.js';
import type { BackupOwner, BackupStore } from './store.js';

export type BackupInputs = InputValues<typeof backupInputs>;

export interface BackupDeps {
  io: ActionIO;
  clock: Clock;
  runner: ProcessRunner;
  cwd: string;
  signal?: AbortSignal;
  environment?: string;
  /** Wall-clock time for ids and manifests (tests fix it). */
  now?: () => Date;
  /** Who this process is, and whether another still runs: prune's test for a dead backup. */
  processes?: Processes;
}

/** One backup as `list` shows it. */
export interface ListedBackup {
  id: string;
  createdAt?: string;
  environment?: string;
  gitSha?: string;
  parts: string[];
  sizeBytes: number;
  verifiedAt?: string;
  safetyFor?: string;
  /** Why the manifest cannot be used. */
  damaged?: string;
}

export interface CountCheck {
  part: string;
  group: string;
  expected: number;
  found: number;
}

export interface BackupOutcome {
  command: BackupCommand;
  store: string;
  id?: string;
  manifest?: Manifest;
  manifestText?: string;
  sha256?: string;
  /** backup: the parts written; restore/verify: the parts checked (and restored). */
  parts: ManifestPart[];
  /** restore: the backup taken of what was about to be overwritten. */
  safetyBackup?: string;
  /** restore, and verify with a target: where the parts went, and the counts read back there. */
  restoredInto?: string;
  counts?: CountCheck[];
  backups?: ListedBackup[];
  pruned?: string[];
  /** prune: interrupted backups (no manifest) whose files it removed. */
  leftovers?: string[];
}

export async function runBackupCommand(inputs: BackupInputs, deps: BackupDeps): Promise<BackupOutcome> {
  const context = openContext(inputs, deps);
  const store = await openStore(inputs.store, context);
  const engine = new BackupEngine(inputs, deps, store, context);
  switch (inputs.command) {
    case 'backup':
      return engine.backup();
    case 'restore':
      return engine.restore();
    case 'verify':
      return engine.verify();
    case 'list':
      return engine.list();
    case 'prune':
      return engine.prune();
  }
}

function openContext(inputs: BackupInputs, deps: BackupDeps): OpenContext {
  return {
    cwd: deps.cwd,
    env: { ...deps.io.env },
    runner: deps.runner,
    token: inputs['github-token'],
    retentionDays: inputs['retention-days'],
    log: (line) => deps.io.info(line),
  };
}

class BackupEngine {
  private readonly log: (line: string) => void;
  private readonly now: () => Date;
  private readonly processes: Processes;

  constructor(
    private readonly inputs: BackupInputs,
    private readonly deps: BackupDeps,
    private readonly store: BackupStore,
    private readonly context: OpenContext,
  ) {
    this.log = (line) => deps.io.info(line);
    this.now = deps.now ?? (() => new Date());
    this.processes = deps.processes ?? systemProcesses;
  }

  // -------------------------------------------------------------------------------------------
  // backup

  async backup(): Promise<BackupOutcome> {
    const specs = this.inputs.sources ?? [];
    if (specs.length === 0)
      throw new InputError(
        'sources',
        'is required for backup: one line per source. Example: sources: postgres://app@db:5432/shop',
      );
    const requested = this.inputs.id;
    if (requested === 'latest')
      throw new InputError(
        'id',
        '"latest" names an existing backup; leave id empty to name a new one by its time',
      );
    const sources = this.openSources(specs);
    try {
      this.splitPatterns(sources.map((source) => source.kind));
      const id = requested ?? (await this.newId());
      if (requested && !(await this.store.reserve(id, this.owner())))
        throw new InputError(
          'id',
          (await this.store.readManifest(id))
            ? `backup ${id} exists already in ${this.store.location}; choose another id or leave it empty`
            : `an interrupted backup ${id} (no manifest) is in ${this.store.location}; remove it or choose another id`,
        );
      this.log(`Backing up ${count(sources.length, 'source')} to ${this.store.location} as ${id}`);
      const manifest = await this.take(id, sources, {});
      const { pruned, leftovers } = this.inputs.retention
        ? await this.pruneTo(this.inputs.retention)
        : { pruned: [], leftovers: [] };
      return { ...this.describe(manifest), command: 'backup', store: this.store.location, pruned, leftovers };
    } finally {
      await closeAll(sources);
    }
  }

  /** Takes one backup of `sources` into the store; only a complete one gets its manifest. */
  private async take(id: string, sources: BackupSource[], extra: { safetyFor?: string }): Promise<Manifest> {
    const createdAt = this.now().toISOString();
    const parts: ManifestPart[] = [];
    try {
      for (const source of sources) parts.push(await this.backupPart(id, source));
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        id,
        createdAt,
        finishedAt: this.now().toISOString(),
        switchyard: SWITCHYARD_VERSION,
        environment: this.deps.environment,
        git: await this.gitInfo(),
        run: this.context.env.GITHUB_RUN_ID
          ? { repository: this.context.env.GITHUB_REPOSITORY, runId: this.context.env.GITHUB_RUN_ID }
          : undefined,
        ...extra,
        compression: this.inputs.compression,
        sizeBytes: parts.reduce((sum, part) => sum + part.bytes, 0),
        parts,
      };
      await this.store.writeManifest(id, serializeManifest(manifest));
      this.log(`Backup ${id} complete: ${count(parts.length, 'part')}, ${formatBytes(manifest.sizeBytes)}`);
      return manifest;
    } catch (error) {
      // Whatever was written is an incomplete backup: without a manifest nobody can use it, and its
      // parts would only take space.
      await this.store.remove(id).catch(() => undefined);
      throw incomplete(error, id);
    }
  }

  private async backupPart(id: string, source: BackupSource): Promise<ManifestPart> {
    const compression = this.inputs.compression;
    const name = `${source.partName}${sourceKindNamed(source.kind).suffix}${COMPRESSION_SUFFIX[compression]}`;
    const selection = this.selection(source.kind);
    const started = this.deps.clock.now();
    const entry = new PassThrough();
    const raw = new Digest({ hash: false });
    const stored = new Digest();
    const failures: unknown[] = [];
    const noteFailure = (error: unknown) => {
      failures.push(error);
      throw error;
    };
    const taking = source
      .backup(entry, { ...selection, log: this.log, signal: this.deps.signal })
      .catch((error: unknown) => {
        entry.destroy(error instanceof Error ? error : new Error(String(error)));
        return noteFailure(error);
      });
    const flowing = pipeline(entry, raw, compressor(compression), stored);
    const writing = this.store.writePart(id, name, stored).catch((error: unknown) => {
      stored.destroy(error instanceof Error ? error : new Error(String(error)));
      return noteFailure(error);
    });
    const [taken] = await Promise.allSettled([taking, writing, flowing]);
    // The first failure is the cause; the others are its echo down the pipeline.
    if (failures.length > 0) throw failures[0];
    if (taken.status === 'rejected') throw taken.reason;
    const seconds = (this.deps.clock.now() - started) / 1000;
    const summary = taken.value;
    this.log(
      `${name}: ${describeRecords(summary.records)}; ${formatBytes(raw.bytes)} → ${formatBytes(stored.bytes)} ` +
        `(${compression}) in ${seconds.toFixed(1)} s, ${formatBytes(raw.bytes / Math.max(seconds, 0.001))}/s`,
    );
    return {
      name,
      kind: source.kind,
      source: source.display,
      ...selection,
      bytes: stored.bytes,
      sha256: stored.sha256,
      rawBytes: raw.bytes,
      records: summary.records,
      facts: summary.facts,
      seconds: Number(seconds.toFixed(3)),
    };
  }

  private split: Record<BackupSource['kind'], Selection> | undefined;

  /** Splits include/exclude between the kinds of source this run has; bad entries fail here, before anything is read. */
  private splitPatterns(kinds: BackupSource['kind'][]): void {
    this.split = splitPatterns(this.inputs, kinds);
  }

  /** The include/exclude a part of `kind` is taken or restored with. */
  private selection(kind: BackupSource['kind']): Selection {
    return this.split?.[kind] ?? completeSelection(kind, { include: [], exclude: [] });
  }

  private openSources(specs: SourceSpec[]): BackupSource[] {
    const sources: BackupSource[] = [];
    const byPart = new Map<string, string>();
    for (const spec of specs) {
      const source = openSource(spec, this.context);
      const same = byPart.get(source.partName);
      if (same) {
        void closeAll([...sources, source]);
        throw new InputError(
          'sources',
          `${redactUrl(spec.raw)} and ${same} are the same source (part ${source.partName}); list each once`,
        );
      }
      byPart.set(source.partName, redactUrl(spec.raw));
      sources.push(source);
    }
    return sources;
  }

  /** `20261121-071502-1a2b3c4` (the time in UTC and the commit), unique in the store. */
  private async newId(): Promise<string> {
    const stamp = timestamp(this.now());
    const sha = (await this.gitInfo()).sha?.slice(0, 7);
    const stem = [this.deps.environment?.replace(/[^A-Za-z0-9._-]+/g, '-'), stamp, sha]
      .filter(Boolean)
      .join('-');
    return this.unusedId(/^[A-Za-z0-9]/.test(stem) ? stem : `backup-${stem}`);
  }

  /** Reserves `base`, or `base-2`, `base-3`… when taken (two backups within a second). */
  private async unusedId(base: string): Promise<string> {
    for (let n = 1; ; n++) {
      const id = n === 1 ? base : `${base.slice(0, 195)}-${n}`;
      if (await this.store.reserve(id, this.owner())) return id;
    }
  }

  private owner(): BackupOwner {
    return { ...this.processes.self(), startedAt: this.now().toISOString() };
  }

  private gitCache: Promise<Manifest['git']> | undefined;

  /** The commit and ref being deployed: from the runner, else from the working copy. */
  private gitInfo(): Promise<Manifest['git']> {
    this.gitCache ??= (async () => {
      const env = this.context.env;
      if (env.GITHUB_SHA) return { sha: env.GITHUB_SHA, ref: env.GITHUB_REF };
      const git = async (...args: string[]) => {
        const result = await this.deps.runner
          .run(['git', ...args], { cwd: this.deps.cwd, timeoutMs: 5_000 })
          .catch(() => undefined);
        return result?.exitCode === 0 ? result.stdout.trim() || undefined : undefined;
      };
      return { sha: await git('rev-parse', 'HEAD'), ref: await git('symbolic-ref', '-q', 'HEAD') };
    })();
    return this.gitCache;
  }

  // -------------------------------------------------------------------------------------------
  // restore and verify

  async restore(): Promise<BackupOutcome> {
    if (!this.inputs.id)
      throw new InputError(
        'id',
        'is required for restore: name the backup to restore, or latest for the newest (command: list shows them)',
      );
    const { id, manifest, text } = await this.load(this.inputs.id);
    const chosen = this.choose(manifest, { restoresOverSource: this.inputs.target === undefined });
    const mode = this.inputs.mode;
    try {
      this.splitPatterns(chosen.map(({ part }) => part.kind));
      this.log(`Restoring backup ${id} (${count(chosen.length, 'part')}) in ${mode} mode`);
      await this.checkChecksums(id, manifest, chosen, 'restore');
      await this.checkTargets(id, manifest, chosen);
      const safetyBackup = await this.safetyBackup(id, chosen);
      const counts = await this.restoreParts(id, manifest, chosen, safetyBackup);
      this.log(`Restored backup ${id}: ${count(chosen.length, 'part')}; record counts confirmed`);
      return {
        ...this.describe(manifest, text),
        command: 'restore',
        store: this.store.location,
        parts: chosen.map(({ part }) => part),
        safetyBackup,
        restoredInto: this.restoredInto(chosen),
        counts,
      };
    } finally {
      await closeAll(chosen.map(({ source }) => source));
    }
  }

  async verify(): Promise<BackupOutcome> {
    const id = await this.resolve(this.inputs.id ?? 'latest');
    try {
      return await this.verifyBackup(id);
    } catch (error) {
      // An input error says nothing about the backup; anything else means it did not verify now,
      // and prune must not keep it as the last good backup on the strength of an older pass.
      if (!(error instanceof InputError)) await this.unmark(id);
      throw error;
    }
  }

  private async verifyBackup(id: string): Promise<BackupOutcome> {
    const { manifest, text } = await this.load(id);
    const scratch = this.inputs.target;
    const chosen = this.choose(manifest, { restoresOverSource: false });
    try {
      this.splitPatterns(chosen.map(({ part }) => part.kind));
      this.log(`Verifying backup ${id} (${count(chosen.length, 'part')})`);
      await this.checkChecksums(id, manifest, chosen, 'verify');
      let counts: CountCheck[] | undefined;
      if (scratch === undefined) await this.checkFilePartsRestorable(id, manifest, chosen);
      else {
        this.log(
          `Restoring into the scratch target ${redactUrl(scratch)} in ${this.inputs.mode} mode to compare`,
        );
        await this.checkTargets(id, manifest, chosen);
        counts = await this.restoreParts(id, manifest, chosen, undefined);
      }
      const verifiedAt = this.now().toISOString();
      await this.store.writeMark(
        id,
        'verified',
        JSON.stringify({
          verifiedAt,
          parts: chosen.map(({ part }) => part.name),
          restoredInto: scratch && redactUrl(scratch),
        }),
      );
      this.log(
        `Backup ${id} verified: every checksum matches${counts ? ', and its scratch restore has every record' : ''}`,
      );
      return {
        ...this.describe(manifest, text),
        command: 'verify',
        store: this.store.location,
        parts: chosen.map(({ part }) => part),
        restoredInto: scratch && redactUrl(scratch),
        counts,
      };
    } finally {
      await closeAll(chosen.map(({ source }) => source));
    }
  }

  /** Takes back a verified mark after a failed verify; the verify's own error is what matters. */
  private async unmark(id: string): Promise<void> {
    try {
      if ((await this.store.readMark(id, 'verified')) === undefined) return;
      await this.store.removeMark(id, 'verified');
      this.log(`Removed the verified mark of backup ${id}: this verify failed`);
    } catch (error) {
      this.deps.io.warning(
        `Backup ${id} failed to verify, and its verified mark could not be removed (${messageOf(error)}); do not let prune rely on it.`,
      );
    }
  }

  /** Every target can take its part in `mode`: checked for all before any is written. */
  private async checkTargets(id: string, manifest: Manifest, chosen: Chosen[]): Promise<void> {
    for (const { part, source } of chosen)
      await source.checkTarget(this.opener(id, manifest, part), this.restoreContext(part));
  }

  /** Restores each part, then reads its target's counts back; fails when any falls short. */
  private async restoreParts(
    id: string,
    manifest: Manifest,
    chosen: Chosen[],
    safetyBackup: string | undefined,
  ): Promise<CountCheck[]> {
    const counts: CountCheck[] = [];
    const done: string[] = [];
    for (const { part, source } of chosen) {
      try {
        await source.restore(this.opener(id, manifest, part), this.restoreContext(part));
      } catch (error) {
        throw partFailed(error, part, done, safetyBackup);
      }
      done.push(part.name);
      counts.push(...(await this.countCheck(source, part)));
    }
    failOnShortfall(counts, safetyBackup);
    return counts;
  }

  /**
   * A file part's archive is checked the way a restore checks it — every entry must stay inside
   * the target — against an empty directory, so a backup no restore would accept is never marked
   * verified.
   */
  private async checkFilePartsRestorable(id: string, manifest: Manifest, chosen: Chosen[]): Promise<void> {
    for (const { part, source } of chosen) {
      if (part.kind !== 'file') continue;
      const empty = await mkdtemp(path.join(os.tmpdir(), 'switchyard-verify-'));
      try {
        await source.checkTarget(this.opener(id, manifest, part), {
          ...this.restoreContext(part),
          mode: 'fail-if-exists',
          target: empty,
        });
      } finally {
        await rm(empty, { recursive: true, force: true });
      }
      this.log(`${part.name}: every entry restores inside its target`);
    }
  }

  /** A backup's id as given, `latest` resolved: the newest that is not a safety backup. */
  private async resolve(requested: string): Promise<string> {
    if (requested !== 'latest') return requested;
    const newest = (await this.listed()).find((backup) => !backup.damaged && !backup.safetyFor);
    if (!newest) throw new InputError('id', `there is no backup in ${this.store.location} yet, so no latest`);
    return newest.id;
  }

  /** A backup's manifest by id (`latest` resolved first). */
  private async load(requested: string): Promise<{ id: string; manifest: Manifest; text: string }> {
    const id = await this.resolve(requested);
    const text = await this.store.readManifest(id);
    if (text === undefined)
      throw new InputError(
        'id',
        `there is no complete backup ${JSON.stringify(id)} in ${this.store.location}; command: list shows the backups there`,
      );
    return { id, manifest: parseManifest(text, id, this.store.location), text };
  }

  /**
   * The parts to restore, each with the source that restores it. `sources` picks parts (and
   * brings the credentials the manifest leaves out); without it, every part goes back where it
   * came from.
   */
  private choose(manifest: Manifest, options: { restoresOverSource: boolean }): Chosen[] {
    const specs = this.inputs.sources ?? [];
    const chosen: Chosen[] = [];
    const close = () => void closeAll(chosen.map(({ source }) => source));
    try {
      if (specs.length > 0) {
        for (const spec of specs) {
          const source = openSource(spec, this.context);
          const part = manifest.parts.find((each) => each.name.startsWith(`${source.partName}.`));
          if (!part) {
            void source.close();
            throw new InputError(
              'sources',
              `${redactUrl(spec.raw)} has no part in backup ${manifest.id}; it holds ${manifest.parts.map((p) => p.source).join(', ')}`,
            );
          }
          chosen.push({ part, source });
        }
      } else {
        for (const part of manifest.parts) {
          // Only a restore over the source itself connects to it; otherwise its name is enough.
          if (part.source.includes('***') && options.restoresOverSource)
            throw new InputError(
              'sources',
              `part ${part.name} came from ${part.source}, whose credentials a manifest never holds: list that source in sources, with them`,
            );
          const spec = specFromPart(part);
          chosen.push({ part, source: openSource(spec, this.context) });
        }
      }
      const target = this.inputs.target;
      if (target !== undefined && chosen.length > 1)
        throw new InputError(
          'target',
          `backup ${manifest.id} has ${chosen.length} parts and a target takes one: pick it with sources (e.g. sources: ${chosen[0]?.part.source})`,
        );
      // A target of the wrong kind is an input error before anything is read.
      if (target !== undefined && chosen[0])
        void openTarget(chosen[0].part.kind, target, this.context).close();
      return chosen;
    } catch (error) {
      close();
      throw error;
    }
  }

  /** Every part's bytes against the manifest, before anything is touched. */
  private async checkChecksums(
    id: string,
    manifest: Manifest,
    chosen: Chosen[],
    doing: 'restore' | 'verify',
  ) {
    for (const { part } of chosen) {
      const started = this.deps.clock.now();
      const digest = new Digest();
      await pipeline(await this.store.readPart(id, part.name), digest, discard());
      if (digest.sha256 !== part.sha256 || digest.bytes !== part.bytes)
        throw new UserError(
          `Part ${part.name} of backup ${id} is damaged: its sha256 is ${digest.sha256} (${formatBytes(digest.bytes)}), ` +
            `the manifest says ${part.sha256} (${formatBytes(part.bytes)}). ` +
            (doing === 'restore'
              ? 'Nothing was restored and the target is untouched. Restore another backup (command: list shows them).'
              : 'Do not restore this backup; take a new one.'),
          'Backup damaged',
        );
      if (doing === 'verify') await this.checkDecompresses(id, manifest, part);
      const seconds = (this.deps.clock.now() - started) / 1000;
      this.log(`${part.name}: sha256 matches (${formatBytes(part.bytes)} in ${seconds.toFixed(1)} s)`);
    }
  }

  /** A part whose checksum matches can still have been written wrong: it must unpack to its size. */
  private async checkDecompresses(id: string, manifest: Manifest, part: ManifestPart): Promise<void> {
    const raw = new Digest({ hash: false });
    try {
      await pipeline(
        await this.store.readPart(id, part.name),
        decompressor(manifest.compression),
        raw,
        discard(),
      );
    } catch (error) {
      throw new UserError(
        `Part ${part.name} of backup ${id} does not decompress (${manifest.compression}): ${(error as Error).message}`,
        'Backup damaged',
      );
    }
    if (raw.bytes !== part.rawBytes)
      throw new UserError(
        `Part ${part.name} of backup ${id} unpacks to ${raw.bytes} bytes; the manifest says ${part.rawBytes}`,
        'Backup damaged',
      );
  }

  /** Opens a part for a source to read, decompressed, as often as it asks. */
  private opener(id: string, manifest: Manifest, part: ManifestPart): () => Readable {
    return () => {
      const out = new PassThrough();
      this.store
        .readPart(id, part.name)
        .then((input) => pipeline(input, decompressor(manifest.compression), out))
        .catch((error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))));
      return out;
    };
  }

  private restoreContext(part: ManifestPart): SourceContext & { mode: RestoreMode; target?: string } {
    return {
      ...this.restoreSelection(part),
      log: this.log,
      signal: this.deps.signal,
      mode: this.inputs.mode,
      target: this.inputs.target,
    };
  }

  /**
   * What a restore takes from a part: the part's own selection narrowed by include/exclude when
   * given (the deploy state keys stay out either way).
   */
  private restoreSelection(part: ManifestPart): Selection {
    if (!this.inputs.include && !this.inputs.exclude) return { include: part.include, exclude: part.exclude };
    return this.selection(part.kind);
  }

  /**
   * Backs up what the restore may overwrite. fail-if-exists has just confirmed that nothing the
   * restore writes exists there, so there is nothing to keep.
   */
  private async safetyBackup(id: string, chosen: Chosen[]): Promise<string | undefined> {
    if (!this.inputs['safety-backup']) {
      this.log('No safety backup: safety-backup is false');
      return undefined;
    }
    if (this.inputs.mode === 'fail-if-exists') {
      this.log(
        'No safety backup needed: in fail-if-exists mode the restore overwrites nothing (just checked)',
      );
      return undefined;
    }
    const targets = chosen.map(({ part, source }) =>
      this.inputs.target === undefined ? source : openTarget(part.kind, this.inputs.target, this.context),
    );
    try {
      const safetyId = await this.unusedId(`safety-${timestamp(this.now())}-before-${id}`.slice(0, 190));
      this.log(`Taking a safety backup of the target first: ${safetyId}`);
      await this.take(safetyId, targets, { safetyFor: id });
      return safetyId;
    } catch (error) {
      throw new UserError(
        `${(error as Error).message} The safety backup failed, so nothing was restored (set safety-backup: false to restore without one).`,
        (error as UserError).title ?? 'Safety backup failed',
      );
    } finally {
      if (this.inputs.target !== undefined) await closeAll(targets);
    }
  }

  /** The target's record counts after a restore, each at least what the part holds. */
  private async countCheck(source: BackupSource, part: ManifestPart): Promise<CountCheck[]> {
    const context = this.restoreContext(part);
    const found = await source.count(context);
    return Object.entries(part.records)
      .filter(([group]) => !(group === 'bytes' && context.mode === 'merge'))
      .map(([group, expected]) => ({ part: part.name, group, expected, found: found[group] ?? 0 }));
  }

  private restoredInto(chosen: Chosen[]): string {
    return this.inputs.target !== undefined
      ? redactUrl(this.inputs.target)
      : chosen.map(({ part }) => part.source).join(', ');
  }

  // -------------------------------------------------------------------------------------------
  // list and prune

  async list(): Promise<BackupOutcome> {
    const backups = await this.listed();
    this.log(`${count(backups.length, 'backup')} in ${this.store.location}`);
    for (const backup of backups)
      this.log(
        `  ${backup.id}  ${backup.createdAt ?? '?'}  ${formatBytes(backup.sizeBytes)}  ${count(backup.parts.length, 'part')}` +
          `${backup.verifiedAt ? `  verified ${backup.verifiedAt}` : ''}${backup.damaged ? `  DAMAGED: ${backup.damaged}` : ''}`,
      );
    return { command: 'list', store: this.store.location, id: backups[0]?.id, parts: [], backups };
  }

  async prune(): Promise<BackupOutcome> {
    const retention = this.inputs.retention;
    if (retention === undefined)
      throw new InputError(
        'retention',
        'is required for prune: how many of the newest backups to keep. Example: retention: 7',
      );
    const { pruned, leftovers } = await this.pruneTo(retention);
    return {
      command: 'prune',
      store: this.store.location,
      parts: [],
      pruned,
      leftovers,
      backups: await this.listed(),
    };
  }

  /**
   * Removes all but the `keep` newest backups, and never the newest verified one. Safety backups
   * are counted apart (their own `keep` newest): a restore's safety backup must not push out the
   * backup it restored. Then the leftovers of dead backups go (removeLeftovers says which).
   */
  private async pruneTo(keep: number): Promise<{ pruned: string[]; leftovers: string[] }> {
    const backups = await this.listed();
    const newestVerified = backups.find((backup) => backup.verifiedAt && !backup.damaged);
    const beyond = (list: ListedBackup[]) => list.slice(keep);
    const doomed = [
      ...beyond(backups.filter((backup) => !backup.safetyFor)),
      ...beyond(backups.filter((backup) => backup.safetyFor)),
    ].filter((backup) => backup !== newestVerified);
    if (newestVerified && backups.filter((b) => !b.safetyFor).indexOf(newestVerified) >= keep)
      this.log(`Keeping ${newestVerified.id} beyond retention ${keep}: it is the newest verified backup`);
    for (const backup of doomed) {
      await this.store.remove(backup.id);
      this.log(`Pruned ${backup.id} (${backup.createdAt ?? 'no time'}, ${formatBytes(backup.sizeBytes)})`);
    }
    if (doomed.length === 0)
      this.log(`Nothing to prune: ${count(backups.length, 'backup')}, retention ${keep}`);
    const leftovers = await removeLeftovers(this.store, {
      now: this.now().getTime(),
      processes: this.processes,
      log: this.log,
    });
    return { pruned: doomed.map((backup) => backup.id), leftovers };
  }

  /** Every complete backup in the store, newest first; damaged manifests last. */
  private async listed(): Promise<ListedBackup[]> {
    const ids = await this.store.list();
    const backups = await Promise.all(
      ids.map(async (id): Promise<ListedBackup> => {
        try {
          const manifest = parseManifest((await this.store.readManifest(id)) ?? '', id, this.store.location);
          const mark = await this.store.readMark(id, 'verified');
          return {
            id,
            createdAt: manifest.createdAt,
            environment: manifest.environment,
            gitSha: manifest.git.sha,
            parts: manifest.parts.map((part) => part.name),
            sizeBytes: manifest.sizeBytes,
            verifiedAt: mark ? verifiedAt(mark) : undefined,
            safetyFor: manifest.safetyFor,
          };
        } catch (error) {
          return { id, parts: [], sizeBytes: 0, damaged: (error as Error).message };
        }
      }),
    );
    return backups.sort(
      (a, b) =>
        Number(Boolean(a.damaged)) - Number(Boolean(b.damaged)) ||
        (b.createdAt ?? '').localeCompare(a.createdAt ?? '') ||
        b.id.localeCompare(a.id),
    );
  }

  private describe(manifest: Manifest, text = serializeManifest(manifest)) {
    return {
      id: manifest.id,
      manifest,
      manifestText: text,
      sha256: manifestSha256(text),
      parts: manifest.parts,
    };
  }
}

interface Chosen {
  part: ManifestPart;
  source: BackupSource;
}

/** The source line a part was taken from; its credentials were redacted, so it works only without any. */
function specFromPart(part: ManifestPart): SourceSpec {
  return sourceKindNamed(part.kind).recorded(part.source);
}

/** `20261121-071502`: UTC, sortable, file-name safe. */
function timestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')
    .replace('T', '-');
}

function verifiedAt(mark: string): string | undefined {
  try {
    const value = (JSON.parse(mark) as { verifiedAt?: unknown }).verifiedAt;
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function failOnShortfall(counts: CountCheck[], safetyBackup: string | undefined): void {
  const short = counts.filter((check) => check.found < check.expected);
  if (short.length === 0) return;
  const listed = short
    .slice(0, 5)
    .map((check) => `${check.part} ${check.group}: ${check.found} of ${check.expected}`)
    .join('; ');
  throw new UserError(
    `The restore finished but the target holds fewer records than the backup: ${listed}${short.length > 5 ? '; …' : ''}. ` +
      'Something deleted them meanwhile, or (Redis) keys with little time to live expired.' +
      (safetyBackup ? ` The target as it was is in backup ${safetyBackup}.` : ''),
    'Restore incomplete',
  );
}

function partFailed(
  error: unknown,
  part: ManifestPart,
  done: string[],
  safetyBackup: string | undefined,
): unknown {
  if (!(error instanceof UserError)) return error;
  const already = done.length > 0 ? ` Parts already restored: ${done.join(', ')}.` : '';
  const safety = safetyBackup ? ` The target as it was is in backup ${safetyBackup}.` : '';
  return new UserError(
    `Restoring part ${part.name} failed: ${error.message}${already}${safety}`,
    error.title,
  );
}

function incomplete(error: unknown, id: string): unknown {
  if (!(error instanceof UserError)) return error;
  const note = ` Backup ${id} was not completed: no manifest was written and its parts were removed.`;
  return new UserError(`${error.message}${note}`, error.title, error.file, error.line);
}

function describeRecords(records: Record<string, number>): string {
  const shown = Object.entries(records)
    .filter(([group]) => !group.startsWith('pattern:'))
    .map(([group, n]) => `${group} ${n.toLocaleString('en-US')}`);
  return shown.length > 6 ? `${shown.slice(0, 6).join(', ')}, …` : shown.join(', ') || 'nothing';
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

async function closeAll(sources: BackupSource[]): Promise<void> {
  await Promise.all(sources.map((source) => source.close().catch(() => undefined)));
}
