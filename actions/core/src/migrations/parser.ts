import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Node } from '@pgsql/types';

/** A place in a file: 1-based line and column (columns count characters, as editors do). */
export interface Position {
  line: number;
  column: number;
}

/** One statement of a migration file, as PostgreSQL's parser sees it. */
export interface Statement {
  /** The parse tree: one key, the node type (`AlterTableStmt`, `IndexStmt`…). */
  node: Node;
  /** The node type, e.g. `AlterTableStmt`. */
  kind: string;
  /** Its first character and its last (inclusive; comments before it and the `;` left out). */
  start: Position;
  end: Position;
  /** The statement's text, without the leading comments and the final semicolon. */
  text: string;
  /** 0-based index in the file. */
  index: number;
}

/** What the parser said about text it could not parse. */
export interface SyntaxProblem {
  message: string;
  at: Position;
}

export interface ParsedFile {
  statements: Statement[];
  syntaxError?: SyntaxProblem;
}

interface RawStatement {
  stmt: Node;
  stmt_location?: number;
  stmt_len?: number;
}

interface Library {
  parseSync(sql: string): { stmts?: RawStatement[] };
}

const WASM = 'libpg-query.wasm';

/**
 * Where the parser's WebAssembly is: next to the bundle (`npm run bundle` copies it into dist/),
 * else in node_modules when running from source.
 */
function wasmDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, WASM))) return here;
  return dirname(createRequire(import.meta.url).resolve(`libpg-query/wasm/${WASM}`));
}

let loading: Promise<Library> | undefined;

/**
 * libpg-query, loaded once. Its Emscripten loader finds the .wasm through `__dirname`, which an
 * ES module bundle does not have: it gets one, pointing where the .wasm is, for as long as the
 * module takes to load.
 */
export function loadParser(): Promise<Library> {
  loading ??= (async () => {
    const global = globalThis as { __dirname?: string };
    const had = Object.prototype.hasOwnProperty.call(global, '__dirname');
    if (!had) global.__dirname = wasmDirectory();
    try {
      const library = await import('libpg-query');
      await library.loadModule();
      return library as Library;
    } finally {
      if (!had) delete global.__dirname;
    }
  })();
  return loading;
}

/**
 * Byte offsets (what the parser reports: it works on UTF-8) to positions and text. Built once
 * per file; each lookup is a binary search over line starts.
 */
export class SourceMap {
  private readonly bytes: Buffer;
  private readonly lineStarts: number[] = [0];

  constructor(readonly text: string) {
    this.bytes = Buffer.from(text, 'utf8');
    for (let i = 0; i < this.bytes.length; i++) if (this.bytes[i] === 0x0a) this.lineStarts.push(i + 1);
  }

  get byteLength(): number {
    return this.bytes.length;
  }

  /** The last lookup: statements come in order, so the next one usually continues its line. */
  private last = { line: 0, offset: 0, column: 1 };

  /** The 1-based line and column of a byte offset. */
  position(offset: number): Position {
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.lineStarts[mid] as number) <= offset) low = mid;
      else high = mid - 1;
    }
    const lineStart = this.lineStarts[low] as number;
    // Counted on from the last lookup when it was earlier on this line: a file of many statements
    // on one line would otherwise be decoded from the line's start for every statement.
    const from =
      this.last.line === low + 1 && this.last.offset <= offset ? this.last : { offset: lineStart, column: 1 };
    const column = from.column + characters(this.bytes, from.offset, offset);
    this.last = { line: low + 1, offset, column };
    return { line: low + 1, column };
  }

  slice(start: number, end: number): string {
    return this.bytes.subarray(start, end).toString('utf8');
  }

  /** The first byte at or after `from` that is not white space or a comment. */
  skipTrivia(from: number, to: number): number {
    const b = this.bytes;
    let i = from;
    while (i < to) {
      const c = b[i] as number;
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c) i++;
      else if (c === 0x2d && b[i + 1] === 0x2d) {
        while (i < to && b[i] !== 0x0a) i++;
      } else if (c === 0x2f && b[i + 1] === 0x2a) {
        // Block comments nest in PostgreSQL.
        let depth = 1;
        i += 2;
        while (i < to && depth > 0) {
          if (b[i] === 0x2f && b[i + 1] === 0x2a) {
            depth++;
            i += 2;
          } else if (b[i] === 0x2a && b[i + 1] === 0x2f) {
            depth--;
            i += 2;
          } else i++;
        }
      } else break;
    }
    return i;
  }

  /**
   * The end of the statement's own text: before trailing white space, `;`, and line comments on
   * lines of their own after it (the parser counts them into the last statement of a file).
   */
  trimEnd(from: number, to: number): number {
    let i = to;
    for (;;) {
      while (i > from) {
        const c = this.bytes[i - 1] as number;
        if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c || c === 0x3b) i--;
        else break;
      }
      const lineStart = this.bytes.lastIndexOf(0x0a, i - 1) + 1;
      if (lineStart <= from) return i;
      const line = this.bytes.subarray(lineStart, i).toString('utf8');
      if (!/^\s*--/.test(line)) return i;
      i = lineStart;
    }
  }
}

/** A file's statements, each with its place; a syntax error is reported, never thrown. */
export async function parseMigration(text: string): Promise<ParsedFile> {
  // libpg-query refuses an empty query; an empty migration file runs, doing nothing.
  if (text.trim() === '') return { statements: [] };
  const library = await loadParser();
  const source = new SourceMap(text);
  let raw: RawStatement[];
  try {
    raw = library.parseSync(text).stmts ?? [];
  } catch (error) {
    const details = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    // The cursor is a character position in libpg_query's message convention, 0-based here.
    const cursor = details?.cursorPosition ?? 0;
    const offset = Buffer.byteLength([...text].slice(0, cursor).join(''), 'utf8');
    return {
      statements: [],
      syntaxError: {
        message: (error as Error).message,
        at: source.position(Math.min(offset, source.byteLength)),
      },
    };
  }
  const statements = raw.map((each, index): Statement => {
    // stmt_location is left out when 0; stmt_len is 0 for a last statement running to the end.
    const from = each.stmt_location ?? 0;
    const to = each.stmt_len ? from + each.stmt_len : source.byteLength;
    const start = source.skipTrivia(from, to);
    const end = Math.max(start, source.trimEnd(start, to));
    return {
      node: each.stmt,
      kind: Object.keys(each.stmt)[0] ?? 'Unknown',
      start: source.position(start),
      // Inclusive, as annotations take it: the statement's last character.
      end: lastCharacter(source.position(end)),
      text: source.slice(start, end),
      index,
    };
  });
  return { statements };
}

function lastCharacter(after: Position): Position {
  return { line: after.line, column: Math.max(1, after.column - 1) };
}

/** How many characters the UTF-8 bytes from `start` to `end` hold (continuation bytes are not). */
function characters(bytes: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if (((bytes[i] as number) & 0xc0) !== 0x80) n++;
  return n;
}
