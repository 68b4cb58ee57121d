/**
 * Loaded into every test process, after tap's own hooks (package.json: tap's `node-arg`).
 *
 * tap's process tracking (@tapjs/processinfo) wraps child_process through process-on-spawn. It then
 * writes its module hooks into the NODE_OPTIONS of every process a test starts. It does this even
 * where the test gave that process a clean environment (the servers under test get one from
 * `cleanEnv`). So every server, cluster worker and fork child of the suite booted with tap's hooks: on
 * Node 20 that is a module-hooks thread that every module load waits on, about 0.4 s of CPU per
 * process. It also changes what the tests measure: boot times, threads, memory.
 *
 * That tracking only serves coverage, and this suite runs without it (`disable-coverage`). So its
 * spawn hook is removed here. process-on-spawn keeps its listeners in one global record, so that every
 * copy of the module shares them; clearing that list is what its own removeAllListeners() does. A
 * child whose environment still carries NODE_OPTIONS (one that inherits this process's) still loads
 * the hooks: only an explicit clean environment is kept clean.
 */
const spawnHooks = globalThis[Symbol.for('process-on-spawn@*:singletonId')]
if (spawnHooks !== undefined && Array.isArray(spawnHooks.listeners)) spawnHooks.listeners = []
