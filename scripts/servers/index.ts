// Real servers on free loopback ports, each in its own temporary directory, for tests and the demo.
export { freePort, stopAllServers, type RunningServer } from './launch.js';
export { startRedis, type RedisOptions } from './redis.js';
export { startPostgres, type PostgresOptions, type RunningPostgres } from './postgres.js';
export { startNginx, type NginxOptions, type RunningNginx } from './nginx.js';
export { startHaproxy, type HaproxyOptions, type RunningHaproxy } from './haproxy.js';
export { startSampleService, type SampleServiceOptions } from './start-sample-service.js';
