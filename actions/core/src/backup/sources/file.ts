import { formatBytes } from '../../summary.js';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorCode, InputError, messageOf, UserError } from '../../errors.js';
import {
  TargetInTheWay,
  type BackupSource,
  type PartSummary,
  type PathSourceSpec,
  type RestoreContext,
  type RestoreMode,
  type SourceContext,
  type SourceKind,
} from '../source.js';
import type { PatternSyntax } from '../patterns.js';
import { TAR_END, encodeEntry, readTar, type TarHeader } from './tar.js';
import { makeDirectory } from '../../atomic-write.js';

/**
 * `file:PATH-OR-GLOB` — files, directories and symbolic links as one POSIX tar (pax) part.
 *
 * Names in the archive are relative to a base directory: the working directory when the path is
 * inside it (the usual case), otherwise the path's parent (or, for a glob, its fixed leading
 * directories). A restore puts them under the `target` directory, by default that base again.
 *
 * Symbolic links are stored as links and never followed, on backup or restore. Before a restore
 * writes anything it reads the whole archive and refuses every entry that could land outside the
 * target (absolute names, `..`, links on the way, links pointing out) or is not a plain file,
 * directory or link (devices, FIFOs, hard links) — see planRestore().
 */
export function createFileSource(spec: string, options: { cwd: string }): BackupSource {
  return new FileSource(spec, options.cwd);
}

const CHUNK = 256 * 1024;
const PROGRESS_EVERY_MS = 5_000;
const MAX_LINK_HOPS = 40;
const NOFOLLOW = (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0);

// ---------------------------------------------------------------------------------------------
// Globs

/**
 * A path glob over `/`-separated relative paths: `*` and `?` within one segment, `**` as a whole
 * segment for any number of segments. Dot files match like any other (a backup should not miss
 * `.env`); `[` and `{` are ordinary characters.
 */
export class Glob {
  private readonly segments: (RegExp | '**')[];

  constructor(readonly pattern: string) {
    this.segments = splitPath(pattern).map((segment) => (segment === '**' ? '**' : segmentPattern(segment)));
  }

  /** Whether the whole path matches. */
  matches(relative: string): boolean {
    return this.states(splitPath(relative)).has(this.segments.length);
  }

  /** Whether something below this directory could still match (worth descending into). */
  couldMatchBelow(directory: string): boolean {
    for (const state of this.states(splitPath(directory))) if (state < this.segments.length) return true;
    return false;
  }

  /** The pattern positions reachable after matching `parts` (a set, so `**` never backtracks). */
  private states(parts: string[]): Set<number> {
    let states = this.closure(new Set([0]));
    for (const part of parts) {
      const next = new Set<number>();
      for (const state of states) {
        const segment = this.segments[state];
        if (segment === '**') next.add(state);
        else if (segment?.test(part)) next.add(state + 1);
      }
      states = this.closure(next);
      if (states.size === 0) break;
    }
    return states;
  }

  /** `**` may also match no segment at all. */
  private closure(states: Set<number>): Set<number> {
    for (const state of states) if (this.segments[state] === '**') states.add(state + 1);
    return states;
  }
}

function segmentPattern(segment: string): RegExp {
  let source = '';
  for (const char of segment) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'su');
}

function hasGlob(segment: string): boolean {
  return segment.includes('*') || segment.includes('?');
}

function splitPath(relative: string): string[] {
  return relative.split('/').filter((part) => part !== '' && part !== '.');
}

/** include/exclude entries a file source takes: any glob; a `/` is what marks one. */
export const filePatterns: PatternSyntax = {
  kind: 'file',
  label: 'file glob',
  scheme: 'file:',
  fits: (pattern) => (pattern.includes('\u0000') ? undefined : pattern.includes('/') ? 'strong' : 'weak'),
};

export const fileSourceKind: SourceKind<PathSourceSpec, 'file'> = {
  kind: 'file',
  schemes: ['file:'],
  written: 'file:PATH-OR-GLOB',
  suffix: '.tar',
  patterns: filePatterns,
  parse(entry) {
    // file:///srv/app is /srv/app, as in a URL; file:uploads/** stays relative.
    const location = entry.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    return location.trim() === ''
      ? `"${entry}" names no path; write file:PATH-OR-GLOB`
      : { kind: 'file', path: location, raw: entry };
  },
  recorded: (source) => ({ kind: 'file', path: source.replace(/^file:/, ''), raw: source }),
  open: (spec, options) => createFileSource(spec.path, { cwd: options.cwd }),
  openTarget(target, options) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target))
      throw new InputError('target', `file parts restore into a directory, not ${JSON.stringify(target)}`);
    // The target directory itself, so the safety backup's names match the restored part's.
    return createFileSource('.', { cwd: path.resolve(options.cwd, target) });
  },
};

/** include/exclude globs, matched against names in the archive; one without `/` matches at any depth. */
class Filter {
  private readonly includes: Glob[];
  private readonly excludes: Glob[];

  constructor(include: string[], exclude: string[]) {
    const glob = (pattern: string) => new Glob(pattern.includes('/') ? pattern : `**/${pattern}`);
    this.includes = include
      .map((p) => p.trim())
      .filter(Boolean)
      .map(glob);
    this.excludes = exclude
      .map((p) => p.trim())
      .filter(Boolean)
      .map(glob);
  }

  get selective(): boolean {
    return this.includes.length > 0;
  }

  included(relative: string): boolean {
    return this.includes.length === 0 || this.includes.some((glob) => glob.matches(relative));
  }

  excluded(relative: string): boolean {
    return this.excludes.some((glob) => glob.matches(relative));
  }
}

// ---------------------------------------------------------------------------------------------
// What a spec selects

interface Selection {
  /** The spec as the user wrote it (without `file:`). */
  spec: string;
  /** Absolute directory that names in the archive are relative to. */
  base: string;
  /** The spec's fixed part relative to base (`''` for base itself), `/`-separated. */
  literal: string;
  /** For a glob: the whole pattern relative to base. */
  pattern?: Glob;
}

function parseSpec(raw: string, cwd: string): Selection {
  const spec = raw.trim().replace(/^file:/, '');
  if (spec === '')
    throw new InputError(
      'sources',
      'file: needs a path or a glob, e.g. file:data/uploads or file:data/**/*.db',
    );
  const parts = spec.split('/');
  const firstGlob = parts.findIndex(hasGlob);
  const literalText = firstGlob === -1 ? spec : parts.slice(0, firstGlob).join('/');
  const rest = firstGlob === -1 ? [] : parts.slice(firstGlob);
  if (rest.includes('..'))
    throw new InputError('sources', `file:${spec}: ".." cannot follow a wildcard; write the path without it`);
  const literalAbs = path.resolve(cwd, literalText === '' ? (spec.startsWith('/') ? '/' : '.') : literalText);
  const base = isWithin(cwd, literalAbs)
    ? path.resolve(cwd)
    : firstGlob === -1
      ? path.dirname(literalAbs)
      : literalAbs;
  const literal = toPosix(path.relative(base, literalAbs));
  const selection: Selection = { spec, base, literal };
  if (firstGlob !== -1) selection.pattern = new Glob([literal, ...rest].filter(Boolean).join('/'));
  return selection;
}

function isWithin(directory: string, candidate: string): boolean {
  const relative = path.relative(directory, candidate);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

function toPosix(relative: string): string {
  return relative.split(path.sep).join('/');
}

function joinName(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/** One thing selected for the archive. */
interface Found {
  absolute: string;
  /** Name in the archive, relative to the base. */
  name: string;
  stats: Stats;
}

/**
 * Walks what `selection` names under `under` (the base on backup, the target when counting), in
 * name order, never following symbolic links. A directory that matches is taken whole; with include
 * globs, a directory is taken when it matches or holds something that does (emitted just before
 * it). Excluded directories are not descended into.
 */
async function* select(
  selection: Selection,
  under: string,
  filter: Filter,
  signal: AbortSignal | undefined,
  whenMissing: 'refuse' | 'nothing',
): AsyncGenerator<Found> {
  const literalAbs = path.join(under, selection.literal);
  const stats = await lstatOrNull(literalAbs);
  if (!stats || (selection.pattern && !stats.isDirectory())) {
    if (whenMissing === 'nothing') return;
    throw new UserError(
      `file:${selection.spec}: ${literalAbs} does not exist${selection.pattern ? ' (or is not a directory)' : ''}; check the path in "sources" (relative to ${selection.base})`,
      'Backup source',
    );
  }

  const tree = async function* (
    absolute: string,
    name: string,
    found: Stats,
    selected: boolean,
    pending: Found[],
  ): AsyncGenerator<Found> {
    signal?.throwIfAborted();
    if (filter.excluded(name)) return;
    const chosen = selected || filter.included(name);
    const me = { absolute, name, stats: found };
    if (!found.isDirectory()) {
      if (chosen) {
        yield* pending.splice(0);
        yield me;
      }
      return;
    }
    if (chosen) {
      yield* pending.splice(0);
      yield me;
    } else pending.push(me);
    for (const child of await children(absolute)) {
      const childStats = await lstatOrNull(child.absolute);
      if (childStats) yield* tree(child.absolute, joinName(name, child.name), childStats, chosen, pending);
    }
    if (pending.at(-1) === me) pending.pop();
  };

  if (!selection.pattern) {
    if (selection.literal !== '') {
      yield* tree(literalAbs, selection.literal, stats, !filter.selective, []);
      return;
    }
    // The base itself: its contents, not an entry for the target directory.
    for (const child of await children(literalAbs)) {
      const childStats = await lstatOrNull(child.absolute);
      if (childStats) yield* tree(child.absolute, child.name, childStats, !filter.selective, []);
    }
    return;
  }

  const pattern = selection.pattern;
  const glob = async function* (absolute: string, name: string): AsyncGenerator<Found> {
    for (const child of await children(absolute)) {
      signal?.throwIfAborted();
      const childName = joinName(name, child.name);
      const childStats = await lstatOrNull(child.absolute);
      if (!childStats) continue;
      if (pattern.matches(childName))
        yield* tree(child.absolute, childName, childStats, !filter.selective, []);
      else if (childStats.isDirectory() && !filter.excluded(childName) && pattern.couldMatchBelow(childName))
        yield* glob(child.absolute, childName);
    }
  };
  yield* glob(literalAbs, selection.literal);
}

async function children(directory: string): Promise<{ name: string; absolute: string }[]> {
  let names: string[];
  try {
    names = await fs.readdir(directory);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw new UserError(`cannot read the directory ${directory}: ${messageOf(error)}`, 'Backup source');
  }
  return names.sort().map((name) => ({ name, absolute: path.join(directory, name) }));
}

async function lstatOrNull(file: string): Promise<Stats | null> {
  try {
    return await fs.lstat(file);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new UserError(`cannot read ${file}: ${messageOf(error)}`, 'Backup source');
  }
}

// ---------------------------------------------------------------------------------------------
// The source

class FileSource implements BackupSource {
  readonly kind = 'file' as const;
  readonly display: string;
  readonly partName: string;
  private readonly selection: Selection;

  constructor(
    spec: string,
    private readonly cwd: string,
  ) {
    this.selection = parseSpec(spec, cwd);
    this.display = `file:${this.selection.spec}`;
    this.partName = partNameOf(this.selection.spec);
  }

  async backup(out: Writable, context: SourceContext): Promise<PartSummary> {
    const archive = new ArchiveWriter(this.selection, this.display, context);
    await pipeline(Readable.from(archive.blocks(), { objectMode: false }), out, { signal: context.signal });
    return archive.summary();
  }

  async checkTarget(open: () => Readable, context: RestoreContext): Promise<void> {
    await planRestore(open, this.targetOf(context), context.mode, this.display, context.signal);
  }

  async restore(open: () => Readable, context: RestoreContext): Promise<PartSummary> {
    const target = this.targetOf(context);
    const plan = await planRestore(open, target, context.mode, this.display, context.signal);
    return writePlan(open, plan, context, this.display);
  }

  /** Counts what the spec selects now: under `target` when given (after a restore), else the source. */
  async count(context: SourceContext & { target?: string }): Promise<Record<string, number>> {
    const counts = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
    const under = context.target ? path.resolve(this.cwd, context.target) : this.selection.base;
    const filter = new Filter(context.include, context.exclude);
    for await (const found of select(this.selection, under, filter, context.signal, 'nothing')) {
      if (found.stats.isDirectory()) counts.directories++;
      else if (found.stats.isSymbolicLink()) counts.symlinks++;
      else if (found.stats.isFile()) {
        counts.files++;
        counts.bytes += found.stats.size;
      }
    }
    return counts;
  }

  async close(): Promise<void> {}

  private targetOf(context: RestoreContext): string {
    return context.target ? path.resolve(this.cwd, context.target) : this.selection.base;
  }
}

/** "file-data-uploads"; a short hash keeps two specs that read alike (`a/*`, `a/?`) apart. */
function partNameOf(spec: string): string {
  const slug = spec
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 60);
  const exact = slug === spec && slug !== '';
  const hash = createHash('sha256').update(spec).digest('hex').slice(0, 8);
  return exact ? `file-${slug}` : `file-${slug || 'root'}-${hash}`;
}

/** Produces the archive for one backup and keeps its records and facts. */
class ArchiveWriter {
  private readonly records = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  private readonly outside: string[] = [];
  private outsideBase = 0;
  private skipped = 0;
  private changed = 0;
  private written = 0;
  private lastProgress = Date.now();
  private readonly started = Date.now();
  private root = '';

  constructor(
    private readonly selection: Selection,
    private readonly display: string,
    private readonly context: SourceContext,
  ) {}

  async *blocks(): AsyncGenerator<Buffer> {
    const { selection, context } = this;
    const filter = new Filter(context.include, context.exclude);
    const literalStats = await lstatOrNull(path.join(selection.base, selection.literal));
    this.root =
      selection.pattern || literalStats?.isDirectory()
        ? selection.literal
        : path.posix.dirname(selection.literal);
    if (this.root === '.') this.root = '';

    for await (const found of select(selection, selection.base, filter, context.signal, 'refuse')) {
      yield* this.entry(found);
      this.progress();
    }
    if (this.written === 0)
      throw new UserError(
        `${this.display} selects nothing to back up under ${selection.base}${filter.selective ? ' (after include/exclude)' : ''}; check the glob in "sources"`,
        'Backup source',
      );
    yield TAR_END;
  }

  summary(): PartSummary {
    const facts: Record<string, string | number> = {
      format: 'tar (POSIX pax)',
      base: this.selection.base,
      'links-outside-root': this.outside.length,
      'links-outside-base': this.outsideBase,
      'skipped-special-files': this.skipped,
      'changed-while-read': this.changed,
    };
    if (this.outside.length > 0) facts['links-outside'] = this.outside.slice(0, 5).join(', ');
    return { records: { ...this.records }, facts };
  }

  private async *entry(found: Found): AsyncGenerator<Buffer> {
    const { stats, name, absolute } = found;
    const common = {
      mode: stats.mode & 0o7777,
      mtime: Math.floor(stats.mtimeMs / 1000),
      uid: stats.uid,
      gid: stats.gid,
    };
    if (stats.isDirectory()) {
      this.written++;
      this.records.directories++;
      yield* encodeEntry({ ...common, name: `${name}/`, type: 'directory', size: 0 });
      return;
    }
    if (stats.isSymbolicLink()) {
      const linkname = await fs.readlink(absolute);
      this.noteLink(name, linkname);
      this.written++;
      this.records.symlinks++;
      yield* encodeEntry({ ...common, name, type: 'symlink', size: 0, linkname });
      return;
    }
    if (!stats.isFile()) {
      this.skipped++;
      this.context.log(
        `${this.display}: skipped ${name}: not a file, directory or link (socket, FIFO or device)`,
      );
      return;
    }
    // Opened without following links, then described from the open file: what is stored is what
    // was read, even if the path was swapped after the directory was listed.
    let handle: FileHandle;
    try {
      handle = await fs.open(absolute, fsConstants.O_RDONLY | NOFOLLOW);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return; // deleted since it was listed
      throw new UserError(`${this.display}: cannot read ${absolute}: ${messageOf(error)}`, 'Backup source');
    }
    try {
      const opened = await handle.stat();
      if (!opened.isFile()) {
        this.skipped++;
        return;
      }
      const header: TarHeader = {
        name,
        type: 'file',
        size: opened.size,
        mode: opened.mode & 0o7777,
        mtime: Math.floor(opened.mtimeMs / 1000),
        uid: opened.uid,
        gid: opened.gid,
      };
      this.written++;
      this.records.files++;
      this.records.bytes += opened.size;
      yield* encodeEntry(header, this.content(handle, name, opened.size));
    } finally {
      await handle.close();
    }
  }

  /** Exactly `size` bytes: a file that shrank while read is padded with zeros (and counted). */
  private async *content(handle: FileHandle, name: string, size: number): AsyncGenerator<Buffer> {
    let position = 0;
    while (position < size) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size - position));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) {
        this.changed++;
        this.context.log(`${this.display}: ${name} shrank while it was read; the rest is stored as zeros`);
        for (; position < size; position += CHUNK) yield Buffer.alloc(Math.min(CHUNK, size - position));
        return;
      }
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
      this.progress();
    }
  }

  /** Links are stored, never followed; ones pointing out of what is backed up are flagged. */
  private noteLink(name: string, linkname: string): void {
    const base = this.selection.base;
    const resolved = path.posix.isAbsolute(linkname)
      ? isWithin(base, linkname)
        ? toPosix(path.relative(base, linkname))
        : undefined
      : path.posix.normalize(path.posix.join(path.posix.dirname(name), linkname));
    const outOfBase = resolved === undefined || resolved === '..' || resolved.startsWith('../');
    const inRoot =
      !outOfBase &&
      (this.root === '' ||
        resolved === this.root ||
        resolved.startsWith(`${this.root}/`) ||
        resolved === '.');
    if (inRoot) return;
    this.outside.push(`${name} -> ${linkname}`);
    if (outOfBase) {
      this.outsideBase++;
      this.context.log(
        `${this.display}: ${name} -> ${linkname} points outside ${base}: stored as a link (not followed), but a restore will refuse it`,
      );
    }
  }

  private progress(): void {
    const now = Date.now();
    if (now - this.lastProgress < PROGRESS_EVERY_MS) return;
    this.lastProgress = now;
    const seconds = (now - this.started) / 1000;
    const entries = this.records.files + this.records.directories + this.records.symlinks;
    this.context.log(
      `${this.display}: ${entries} entries, ${formatBytes(this.records.bytes)} (${formatBytes(this.records.bytes / seconds)}/s, ${Math.round(entries / seconds)} entries/s)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Restore: the plan (every check, nothing written) …

type EntryKind = 'file' | 'directory' | 'symlink';

/** One archive entry, in archive order, and what the restore will do with it. */
interface Step {
  header: TarHeader;
  /** `ignore`: the archive's entry for its own root (`./`); `skip`: exists and mode is merge. */
  action: 'write' | 'skip' | 'ignore';
  kind?: EntryKind;
  /** Where it lands under the target: each component a real directory (or to be made one). */
  location: string[];
}

interface RestorePlan {
  target: string;
  /** The target with links resolved; every write goes below it. */
  realTarget: string;
  mode: RestoreMode;
  steps: Step[];
}

/** A directory no entry names but the writes create (for `a/b` without `a/`). */
const IMPLIED: Step = {
  header: { name: '', type: 'directory', mode: 0o755, size: 0, mtime: 0 },
  action: 'ignore',
  kind: 'directory',
  location: [],
};

interface Problem {
  name: string;
  reason: string;
}

type DiskKind = 'directory' | 'file' | 'symlink' | 'other' | 'absent';

/** One resolved directory on a path; `onDisk` when it is a real directory there now. */
interface Level {
  name: string;
  onDisk: boolean;
}

/**
 * Reads the whole archive and decides, without writing anything, where every entry lands and
 * whether it may. Refused (one UserError naming up to five entries and the count):
 *
 * - names that are absolute, contain `..` segments or NUL bytes;
 * - hard links, character and block devices, FIFOs and any other non-file/directory/link type;
 * - entries reached through a symbolic link from the same archive (`a -> /etc`, then `a/passwd`),
 *   or through a link already on disk that leads out of the target;
 * - symbolic links whose target, once everything is restored, resolves outside the target
 *   (followed through archive and on-disk links alike; absolute targets must point inside);
 * - two entries landing on the same path; an entry below something that is not a directory;
 * - in `replace` mode, a file or link where the target has a directory.
 *
 * Entries are simulated in archive order over what is on disk, so the place each one lands is the
 * place it will be written. Then mode `fail-if-exists` refuses when any entry exists already.
 */
async function planRestore(
  open: () => Readable,
  target: string,
  mode: RestoreMode,
  display: string,
  signal?: AbortSignal,
): Promise<RestorePlan> {
  const problems: Problem[] = [];
  const steps: Step[] = [];
  const names: string[][] = [];

  for await (const entry of readTar(open())) {
    signal?.throwIfAborted();
    const { header } = entry;
    const step: Step = { header, action: 'write', location: [] };
    steps.push(step);
    const parts = nameParts(header.name);
    names.push(typeof parts === 'string' ? [] : parts);
    const problem = typeof parts === 'string' ? parts : kindProblem(header);
    if (problem) {
      problems.push({ name: header.name, reason: problem });
      step.action = 'ignore';
      continue;
    }
    step.kind = header.type as EntryKind;
    if ((parts as string[]).length === 0) {
      // `./` in archives made with `tar -C dir .`: the target's own mode is left alone.
      step.action = 'ignore';
      if (header.type !== 'directory')
        problems.push({ name: header.name, reason: 'names the target directory itself' });
    }
  }

  const disk = await DiskView.of(target);
  const placed = new Map<string, Step>();
  const existing: string[] = [];
  const world = new World(disk, placed);
  /** A refused step is never written, whatever happens after. */
  const refuse = (step: Step, reason: string) => {
    step.action = 'ignore';
    problems.push({ name: step.header.name, reason });
  };

  for (const [index, step] of steps.entries()) {
    const parts = names[index] as string[];
    if (step.action !== 'write' || parts.length === 0) continue;
    const parent = await world.resolve([], parts.slice(0, -1), 'parent');
    if (typeof parent === 'string') {
      refuse(step, parent);
      continue;
    }
    const where = await world.kind(parent.levels, parent.last);
    if (where.kind !== 'directory' && where.kind !== 'absent') {
      refuse(step, `is below ${quote(where.key)}, which is not a directory`);
      continue;
    }
    const levels = parent.last
      ? [...parent.levels, await world.level(parent.levels, parent.last)]
      : parent.levels;
    const base = parts.at(-1) as string;
    const here = await world.kind(levels, base);
    const key = here.key;
    const earlier = placed.get(key);
    if (earlier && !(earlier === IMPLIED && step.kind === 'directory')) {
      refuse(
        step,
        earlier === IMPLIED
          ? 'lands where an earlier entry needs a directory'
          : `lands on the same path as ${quote(earlier.header.name)}`,
      );
      continue;
    }
    step.location = [...levels.map((level) => level.name), base];
    // Directories the writes will create on the way are part of the result too.
    for (let depth = 1; depth <= levels.length; depth++) {
      const parentKey = step.location.slice(0, depth).join('/');
      if (
        !placed.has(parentKey) &&
        (await world.kind(levels.slice(0, depth - 1), levels[depth - 1]?.name ?? '')).kind === 'absent'
      )
        placed.set(parentKey, IMPLIED);
    }
    if (here.kind !== 'absent' && earlier !== IMPLIED) {
      if (mode === 'fail-if-exists') existing.push(key);
      if (mode === 'merge') {
        step.action = 'skip';
        continue;
      }
      if (mode === 'replace' && here.kind === 'directory' && step.kind !== 'directory') {
        refuse(
          step,
          `is a ${step.kind === 'symlink' ? 'link' : 'file'} in the backup but a directory in the target; remove ${quote(key)} first`,
        );
        continue;
      }
    }
    placed.set(key, step);
  }

  // Links are checked against the end result: a later entry may change where an earlier link leads.
  for (const step of placed.values()) {
    if (step.kind !== 'symlink' || step === IMPLIED) continue;
    const linkname = step.header.linkname ?? '';
    const reason = linkProblem(linkname);
    if (reason) {
      refuse(step, reason);
      continue;
    }
    const levels = await world.levelsOf(step.location.slice(0, -1));
    const resolved = await world.resolve(levels, splitLink(linkname), 'link', disk.absoluteInside(linkname));
    if (typeof resolved === 'string') refuse(step, `is a link to ${quote(linkname)}, which ${resolved}`);
  }

  if (problems.length > 0) throw refusal(display, target, problems);
  if (existing.length > 0) {
    const shown = existing.slice(0, 5).map(quote).join(', ');
    const more = existing.length > 5 ? ` and ${existing.length - 5} more` : '';
    throw new TargetInTheWay(
      `${display}: ${existing.length} ${existing.length === 1 ? 'path exists' : 'paths exist'} already in ${target}: ${shown}${more}. Nothing was written. Restore into an empty "target", or set "mode" to merge (keep what exists) or replace (overwrite it).`,
    );
  }
  return { target, realTarget: disk.real, mode, steps };
}

/** The name's components, or why the name is refused. */
function nameParts(name: string): string[] | string {
  if (name.includes('\u0000')) return 'has a NUL byte in its name';
  if (name.startsWith('/')) return 'is an absolute path';
  if (path.sep === '\\' && (/^[A-Za-z]:/.test(name) || name.includes('\\')))
    return 'is a Windows path (drive letter or backslash)';
  const parts = splitPath(name);
  if (parts.includes('..')) return 'has a ".." segment, which would leave the target';
  return parts;
}

function kindProblem(header: TarHeader): string | undefined {
  switch (header.type) {
    case 'file':
    case 'directory':
    case 'symlink':
      return undefined;
    case 'hardlink':
      return `is a hard link (to ${quote(header.linkname ?? '')}); switchyard restores only files, directories and symbolic links`;
    case 'character-device':
      return 'is a character device';
    case 'block-device':
      return 'is a block device';
    case 'fifo':
      return 'is a FIFO (named pipe)';
    default:
      return `has an unsupported entry type ${quote(header.typeflag ?? '?')}`;
  }
}

function linkProblem(linkname: string): string | undefined {
  if (linkname === '') return 'is a link with an empty target';
  if (linkname.includes('\u0000')) return 'is a link with a NUL byte in its target';
  return undefined;
}

function splitLink(linkname: string): string[] {
  return linkname.split('/');
}

function quote(name: string): string {
  return JSON.stringify(name);
}

function refusal(display: string, target: string, problems: Problem[]): UserError {
  const shown = problems
    .slice(0, 5)
    .map((problem) => `${quote(problem.name)} ${problem.reason}`)
    .join('; ');
  const more = problems.length > 5 ? `; and ${problems.length - 5} more` : '';
  const count = problems.length === 1 ? '1 entry is' : `${problems.length} entries are`;
  return new UserError(
    `${display}: refusing to restore into ${target}: ${count} unsafe: ${shown}${more}. Nothing was written.`,
    'Restore refused',
  );
}

/** The target as it is on disk before the restore (read once, cached). */
class DiskView {
  private readonly cache = new Map<string, Promise<Stats | null>>();

  private constructor(
    readonly target: string,
    readonly real: string,
    readonly exists: boolean,
  ) {}

  static async of(target: string): Promise<DiskView> {
    let current = target;
    const missing: string[] = [];
    for (;;) {
      try {
        const stats = await fs.stat(current);
        if (!stats.isDirectory())
          throw new UserError(`the restore target ${current} is not a directory`, 'Restore refused');
        const real = path.join(await fs.realpath(current), ...missing.reverse());
        return new DiskView(target, real, missing.length === 0);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT' || path.dirname(current) === current) throw error;
        missing.push(path.basename(current));
        current = path.dirname(current);
      }
    }
  }

  /** lstat of a path below the target whose parents are all real directories. */
  lstat(key: string): Promise<Stats | null> {
    let found = this.cache.get(key);
    if (!found) {
      found = lstatOrNull(path.join(this.real, ...key.split('/')));
      this.cache.set(key, found);
    }
    return found;
  }

  /** For an absolute link target: its components below the target, or undefined when outside it. */
  absoluteInside(linkname: string): string[] | undefined {
    if (!path.posix.isAbsolute(linkname)) return undefined;
    for (const root of [this.real, this.target]) {
      if (isWithin(root, linkname)) return splitPath(toPosix(path.relative(root, linkname)));
    }
    return undefined;
  }
}

/** The target as it will be: what is on disk, overlaid with the entries placed so far. */
class World {
  constructor(
    private readonly disk: DiskView,
    private readonly placed: Map<string, Step>,
  ) {}

  async kind(levels: Level[], name: string): Promise<{ kind: DiskKind; key: string; link?: string }> {
    const key = [...levels.map((level) => level.name), name].join('/');
    if (name === '') return { kind: this.disk.exists ? 'directory' : 'absent', key };
    const step = this.placed.get(key);
    if (step) return { kind: step.kind as EntryKind, key, link: step.header.linkname };
    const parentOnDisk = levels.length === 0 ? this.disk.exists : (levels.at(-1) as Level).onDisk;
    if (!parentOnDisk) return { kind: 'absent', key };
    const stats = await this.disk.lstat(key);
    if (!stats) return { kind: 'absent', key };
    if (stats.isDirectory()) return { kind: 'directory', key };
    if (stats.isSymbolicLink())
      return { kind: 'symlink', key, link: await fs.readlink(path.join(this.disk.real, ...key.split('/'))) };
    return { kind: stats.isFile() ? 'file' : 'other', key };
  }

  /** Levels for a location already resolved (no links in it). */
  async levelsOf(location: string[]): Promise<Level[]> {
    const levels: Level[] = [];
    for (const name of location) levels.push(await this.level(levels, name));
    return levels;
  }

  /** The directory `name` below `levels`, noting whether it is a real directory on disk now. */
  async level(levels: Level[], name: string): Promise<Level> {
    const parentOnDisk = levels.length === 0 ? this.disk.exists : (levels.at(-1) as Level).onDisk;
    if (!parentOnDisk) return { name, onDisk: false };
    const key = [...levels.map((level) => level.name), name].join('/');
    return { name, onDisk: (await this.disk.lstat(key))?.isDirectory() === true };
  }

  /**
   * Follows `parts` from `start`, resolving every link on the way (the last component too), and
   * returns the directories passed and the last component, or why it cannot be allowed. For a
   * `parent` (where an entry is written) links from the archive itself are refused; for a `link`'s
   * target they are followed, and a path that stops at a file just dangles (harmless, inside).
   */
  async resolve(
    start: Level[],
    parts: string[],
    purpose: 'parent' | 'link',
    absolute?: string[],
  ): Promise<{ levels: Level[]; last: string } | string> {
    let levels = absolute ? [] : [...start];
    const queue = absolute ? [...absolute] : [...parts];
    if (!absolute && parts[0] === '') return 'points outside the target (an absolute path)';
    const via: string[] = [];
    const outside = () =>
      `leads outside the target${via.length > 0 ? ` (through the link ${via.slice(0, 2).join(', ')})` : ''}`;
    let hops = 0;
    while (queue.length > 0) {
      const part = queue.shift() as string;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (levels.length === 0) return outside();
        levels = levels.slice(0, -1);
        continue;
      }
      const found = await this.kind(levels, part);
      const last = queue.length === 0;
      if (found.kind === 'symlink') {
        const fromArchive = this.placed.has(found.key);
        if (fromArchive && purpose === 'parent')
          return `goes through ${quote(found.key)}, a symbolic link in the same backup`;
        if (++hops > MAX_LINK_HOPS) return 'goes through too many levels of symbolic links';
        const link = found.link ?? '';
        via.push(`${quote(found.key)} -> ${quote(link)}`);
        if (path.posix.isAbsolute(link)) {
          const inside = this.disk.absoluteInside(link);
          if (!inside) return outside();
          levels = [];
          queue.unshift(...inside);
        } else queue.unshift(...splitLink(link));
        continue;
      }
      if (last) return { levels, last: part };
      if (found.kind !== 'directory' && found.kind !== 'absent') {
        if (purpose === 'link') return { levels, last: part };
        return `is below ${quote(found.key)}, which is not a directory`;
      }
      levels = [...levels, await this.level(levels, part)];
    }
    return { levels, last: '' };
  }
}

// ---------------------------------------------------------------------------------------------
// … and the writes, which follow the plan step by step.

async function writePlan(
  open: () => Readable,
  plan: RestorePlan,
  context: RestoreContext,
  display: string,
): Promise<PartSummary> {
  const records = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  let skipped = 0;
  let specialBits = 0;
  const directories: { absolute: string; mode: number; mtime: number }[] = [];
  const made = new Set<string>();
  const appeared = (final: string) =>
    new UserError(
      `${display}: ${final} appeared in the target during the restore; it was left as it was and the restore stopped`,
      'Restore stopped',
    );
  const changed = () =>
    new UserError(
      `${display}: the backup part changed between the safety check and the restore; nothing more was written to ${plan.target}`,
      'Restore stopped',
    );

  await makeDirectory(plan.realTarget);

  /** Makes sure every component is a real directory (never a link): the plan said it will be. */
  const directory = async (location: string[]): Promise<string> => {
    let current = plan.realTarget;
    for (const name of location) {
      current = path.join(current, name);
      if (made.has(current)) continue;
      const stats = await lstatOrNull(current);
      if (!stats) await fs.mkdir(current);
      else if (!stats.isDirectory())
        throw new UserError(
          `${display}: ${current} is not a directory (it changed during the restore, or the file system folds names together); restore stopped`,
          'Restore stopped',
        );
      made.add(current);
    }
    return current;
  };

  let index = 0;
  for await (const entry of readTar(open())) {
    context.signal?.throwIfAborted();
    const step = plan.steps[index++];
    const header = entry.header;
    if (
      !step ||
      step.header.name !== header.name ||
      step.header.type !== header.type ||
      step.header.size !== header.size ||
      step.header.linkname !== header.linkname
    )
      throw changed();
    if (step.action === 'skip') skipped++;
    if (step.action !== 'write') continue;
    if (step.location.length === 0) throw changed();

    const parent = await directory(step.location.slice(0, -1));
    const final = path.join(parent, step.location.at(-1) as string);
    const mode = header.mode & 0o1777;
    if (mode !== (header.mode & 0o7777)) specialBits++;

    if (step.kind === 'directory') {
      const stats = await lstatOrNull(final);
      if (stats && !stats.isDirectory()) await fs.unlink(final);
      if (!stats?.isDirectory()) await fs.mkdir(final, { mode: 0o700 });
      made.add(final);
      directories.push({ absolute: final, mode, mtime: header.mtime });
      records.directories++;
      continue;
    }

    if (step.kind === 'symlink' && plan.mode !== 'replace') {
      // Creating a link is atomic and fails when the name exists: nothing to stage.
      try {
        await fs.symlink(header.linkname ?? '', final);
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw error;
        if (plan.mode === 'fail-if-exists') throw appeared(final);
        skipped++;
        continue;
      }
      await fs.lutimes(final, header.mtime, header.mtime).catch(() => undefined);
      records.symlinks++;
      continue;
    }

    const temporary = path.join(parent, `.switchyard-${randomBytes(6).toString('hex')}.tmp`);
    try {
      if (step.kind === 'symlink') {
        await fs.symlink(header.linkname ?? '', temporary);
        await fs.lutimes(temporary, header.mtime, header.mtime).catch(() => undefined);
      } else {
        const handle = await fs.open(temporary, 'wx', 0o600);
        try {
          for await (const chunk of entry.content()) {
            let offset = 0;
            while (offset < chunk.length) offset += (await handle.write(chunk, offset)).bytesWritten;
          }
          await handle.chmod(mode);
          await handle.utimes(header.mtime, header.mtime);
        } finally {
          await handle.close();
        }
      }
      const placed = await place(temporary, final, plan.mode);
      if (!placed) {
        if (plan.mode === 'fail-if-exists') throw appeared(final);
        skipped++;
        continue;
      }
    } finally {
      await fs.rm(temporary, { force: true });
    }
    if (step.kind === 'symlink') records.symlinks++;
    else {
      records.files++;
      records.bytes += header.size;
    }
  }
  if (index !== plan.steps.length) throw changed();

  // Modes and times of directories last, deepest first: writing into them changed their times,
  // and a read-only directory could not have taken its files.
  directories.sort((a, b) => b.absolute.length - a.absolute.length);
  for (const entry of directories) {
    await fs.chmod(entry.absolute, entry.mode);
    await fs.utimes(entry.absolute, entry.mtime, entry.mtime);
  }

  return {
    records,
    facts: {
      target: plan.target,
      mode: plan.mode,
      'skipped-existing': skipped,
      'setuid-setgid-dropped': specialBits,
    },
  };
}

/**
 * Moves a finished temporary file (or, in `replace`, link) to its name. `replace` renames over
 * what is there; the other modes never overwrite: a hard link fails when the name exists (false).
 */
async function place(temporary: string, final: string, mode: RestoreMode): Promise<boolean> {
  if (mode === 'replace') {
    await fs.rename(temporary, final);
    return true;
  }
  try {
    await fs.link(temporary, final);
    return true;
  } catch (error) {
    const code = errorCode(error);
    if (code === 'EEXIST') return false;
    // File systems without hard links: check, then rename (a narrow race instead of none).
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'ENOSYS') throw error;
    if (await lstatOrNull(final)) return false;
    await fs.rename(temporary, final);
    return true;
  }
}
