// The runner's stream(), which carries a whole backup part in or out of pg_dump and pg_restore: the output
// is ended only when the program succeeded, a program that stops reading early is not an input
// error, and stderr's end is kept for the message.
import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { systemRunner } from '../../actions/core/src/process.js';

const runStreaming = systemRunner.stream;

/** A Writable that keeps what it got and how it ended. */
function collector(): { stream: Writable; bytes: () => number; ended: Promise<'finished' | Error> } {
  let bytes = 0;
  const stream = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      // Slow, so pipes fill up and backpressure has to work.
      setImmediate(callback);
    },
  });
  const ended = new Promise<'finished' | Error>((resolve) => {
    stream.on('finish', () => resolve('finished'));
    stream.on('error', (error) => resolve(error));
  });
  return { stream, bytes: () => bytes, ended };
}

/** 8 MiB of input, produced lazily. */
function bigInput(): Readable {
  let left = 128;
  return new Readable({
    read() {
      this.push(left-- > 0 ? Buffer.alloc(64 * 1024, 'x') : null);
    },
  });
}

describe('systemRunner.stream', () => {
  it('streams stdin to stdout with backpressure and ends the output on success', async () => {
    const out = collector();
    let reported = 0;
    const result = await runStreaming(['cat'], {
      input: bigInput(),
      output: out.stream,
      onOutput: (bytes) => (reported += bytes),
    });
    expect(result).toMatchObject({ exitCode: 0, aborted: false, stderr: '' });
    expect(await out.ended).toBe('finished');
    expect(out.bytes()).toBe(8 * 1024 * 1024);
    expect(reported).toBe(8 * 1024 * 1024);
  });

  it('destroys the output with the failure when the program fails, keeping the end of stderr', async () => {
    const out = collector();
    const result = await runStreaming(
      [
        'sh',
        '-c',
        'printf partial; i=0; while [ $i -lt 300 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 3',
      ],
      {
        output: out.stream,
        failure: (failed) => new Error(`dump failed with ${failed.exitCode}`),
        stderrLimit: 100,
      },
    );
    expect(result.exitCode).toBe(3);
    expect(result.stderr.length).toBe(100);
    expect(result.stderr.trimEnd().endsWith('line 299')).toBe(true);
    expect(((await out.ended) as Error).message).toBe('dump failed with 3');
  });

  it('does not count a program that stops reading as an input error', async () => {
    const result = await runStreaming(['head', '-c', '10'], { input: bigInput() });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('xxxxxxxxxx');
    expect(result.inputError).toBeUndefined();
  });

  it('reports an input that fails by itself', async () => {
    const input = new PassThrough();
    input.write('some bytes');
    setImmediate(() => input.destroy(new Error('store unreadable')));
    const result = await runStreaming(['cat'], { input });
    expect(result.inputError?.message).toBe('store unreadable');
  });

  it('reports an output that fails, and stops the program', async () => {
    const broken = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error('disk full'));
      },
    });
    const result = await runStreaming(['cat'], { input: bigInput(), output: broken });
    expect(result.outputError?.message).toBe('disk full');
  });

  it('says when the program does not exist', async () => {
    const result = await runStreaming(['/nonexistent/pg_dump', '--version']);
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toBe('command not found: /nonexistent/pg_dump');
  });

  it('kills the program when aborted', async () => {
    const controller = new AbortController();
    const out = collector();
    const running = runStreaming(['sleep', '30'], { output: out.stream, signal: controller.signal });
    controller.abort();
    const result = await running;
    expect(result.aborted).toBe(true);
    expect(result.exitCode).not.toBe(0);
    expect(await out.ended).toBeInstanceOf(Error);
  });
});
