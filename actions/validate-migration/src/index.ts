// The bundle's entry: the runner executes dist/index.js, which runs the action once.
import { run } from './main.js';

await run();
