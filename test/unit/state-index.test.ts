// The `state` input: which store a spec opens, where it says it is, and what a bad spec is told.
// Opening connects to nothing, so no server is needed here.
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { InputError } from '../../actions/core/src/errors.js';
import { FileStateStore } from '../../actions/core/src/deploy/state/file.js';
import { openStateStore } from '../../actions/core/src/deploy/state/index.js';
import { RedisStateStore } from '../../actions/core/src/deploy/state/redis.js';

function inputError(spec: string): InputError {
  try {
    openStateStore(spec, { cwd: '/work' });
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
  throw new Error(`${spec} was accepted`);
}

describe('openStateStore', () => {
  it('opens file:PATH relative to cwd, or absolute as given', () => {
    const relative = openStateStore('file:.switchyard/state.json', { cwd: '/srv/app' });
    expect(relative).toBeInstanceOf(FileStateStore);
    expect(relative.location).toBe('file:/srv/app/.switchyard/state.json');
    expect(openStateStore('file:/var/lib/switchyard/state.json', { cwd: '/srv/app' }).location).toBe(
      'file:/var/lib/switchyard/state.json',
    );
    expect(openStateStore('file:state.json').location).toBe(`file:${path.resolve('state.json')}`);
  });

  it('opens redis:// and rediss:// with database 0 and prefix switchyard:default unless told', () => {
    const plain = openStateStore('redis://cache.internal:6379', {});
    expect(plain).toBeInstanceOf(RedisStateStore);
    expect(plain.location).toBe('redis://cache.internal:6379/0/switchyard:default');
    expect(openStateStore('rediss://cache.internal', {}).location).toBe(
      'rediss://cache.internal/0/switchyard:default',
    );
  });

  it('takes the database and prefix from the path, or the prefix from ?prefix= or ?key=', () => {
    expect(openStateStore('redis://cache:6379/2', {}).location).toBe(
      'redis://cache:6379/2/switchyard:default',
    );
    expect(openStateStore('redis://cache:6379/2/checkout', {}).location).toBe(
      'redis://cache:6379/2/switchyard:checkout',
    );
    expect(openStateStore('redis://cache:6379/checkout', {}).location).toBe(
      'redis://cache:6379/0/switchyard:checkout',
    );
    expect(openStateStore('redis://cache:6379/3?prefix=checkout:prod', {}).location).toBe(
      'redis://cache:6379/3/switchyard:checkout:prod',
    );
    expect((openStateStore('redis://cache:6379?key=billing', {}) as RedisStateStore).prefix).toBe(
      'switchyard:billing',
    );
  });

  it('blanks the password in the location', () => {
    const store = openStateStore('redis://deploy:s3cr3t%2Fpw@cache:6379/1/checkout', {});
    expect(store.location).toBe('redis://deploy:***@cache:6379/1/switchyard:checkout');
    expect(openStateStore('redis://:s3cr3t@cache:6379', {}).location).toBe(
      'redis://:***@cache:6379/0/switchyard:default',
    );
  });

  it('names the input and the forms it accepts for anything else, without the password', () => {
    const wrongScheme = inputError('postgres://admin:hunter2@db:5432/app');
    expect(wrongScheme.message).toBe(
      'Input "state": expected file:PATH or redis://host:port/db; got "postgres://admin:***@db:5432/app"',
    );
    expect(wrongScheme.title).toBe('Invalid input: state');
    expect(inputError('.switchyard/state.json').message).toContain(
      'expected file:PATH or redis://host:port/db',
    );
    expect(inputError('file:').message).toBe(
      'Input "state": file: needs a path, e.g. file:.switchyard/state.json',
    );
  });

  it('refuses redis URLs it cannot use, saying why and hiding the password', () => {
    expect(inputError('redis://:hunter2@cache:6379/0/a/b').message).toBe(
      'Input "state": redis://:***@cache:6379/0/a/b: the path is /db/prefix, e.g. redis://cache:6379/0/my-service',
    );
    expect(inputError('redis://cache:6379/0/a?prefix=b').message).toContain('names the key prefix twice');
    expect(inputError('redis:///0').message).toContain('needs a host');
    expect(inputError('redis://:hunter2@cache:99999').message).toBe(
      'Input "state": redis://:***@cache:99999 is not a valid URL; expected redis://host:port/db',
    );
  });
});
