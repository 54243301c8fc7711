export const id = 495;
export const ids = [495];
export const modules = {

/***/ 83495:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   createActionsCacheStore: () => (/* binding */ createActionsCacheStore)
/* harmony export */ });
/* unused harmony export ACTIONS_CACHE_NOTES */
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _actions_cache__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(50612);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(93370);
/* harmony import */ var _github_client_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(69074);
/* harmony import */ var _local_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(4008);
/* harmony import */ var _runner_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(99477);
/* harmony import */ var _atomic_write_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(25006);








/**
 * `actions-cache` — each backup is ONE GitHub Actions cache entry, keyed `switchyard-backup-<id>`.
 *
 * Cache entries cannot be changed once saved, so parts are staged in a folder under `tempDir`
 * (RUNNER_TEMP) and writeManifest saves the whole folder, manifest included, as one entry: until
 * that save is finalized no entry exists, which is the store's "manifest last" guarantee. Reading
 * a backup restores its entry into the same folder, once per store. A mark (`verified`) is an entry
 * of its own, `switchyard-backup-<id>+verified+<time>`; the newest one wins.
 *
 * This is a convenience, not durable storage:
 * - GitHub evicts a cache entry that has not been restored for 7 days, and evicts the oldest
 *   entries once the repository's caches pass its size limit (10 GB by default) — other caches of
 *   the repository (npm, build outputs…) compete for the same space.
 * - A run can restore only entries saved on its own branch or the default branch; list() shows
 *   every branch's.
 * - The cache version the toolkit checks is made from the staged folder's absolute path and the
 *   compression (zstd or gzip), so a backup restores on runners with the same RUNNER_TEMP path and
 *   tools — all GitHub-hosted runners of one operating system.
 *
 * Saving and restoring go through @actions/cache and the job's ACTIONS_RUNTIME_TOKEN (the runner
 * gives it to JavaScript actions, not to `run:` steps). Listing and removing need the REST API,
 * hence `github-token` (`actions: read` to list, `actions: write` to prune).
 */
function createActionsCacheStore(options) {
    return new ActionsCacheStore(options);
}
/** Shown with the backup's report: what a user should know before relying on this store. */
const ACTIONS_CACHE_NOTES = 'Backups in the Actions cache are a best-effort convenience, not durable storage: GitHub evicts an entry ' +
    'not restored for 7 days, and the oldest entries once the repository passes its cache size limit (10 GB ' +
    'by default, shared with every other cache of the repository). A run restores only entries of its own ' +
    'branch or the default branch. Keep backups you cannot lose in a `local:` store on durable disk.';
class ActionsCacheStore {
    options;
    location = 'actions-cache';
    notes = ACTIONS_CACHE_NOTES;
    staging;
    marks;
    constructor(options) {
        this.options = options;
        this.staging = new _runner_js__WEBPACK_IMPORTED_MODULE_6__/* .Staging */ .CP(node_path__WEBPACK_IMPORTED_MODULE_1___default().join(options.tempDir, 'switchyard-actions-cache'), this.location, (id) => this.restore(id));
        this.marks = node_path__WEBPACK_IMPORTED_MODULE_1___default().join(options.tempDir, 'switchyard-actions-cache-marks');
    }
    /**
     * False when an entry holds `id` (with a token: on any branch; without: one this run could
     * restore). Not atomic across runs — but the service is: of two runs saving the same key, the
     * second one's writeManifest fails.
     */
    async reserve(id) {
        (0,_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .checkId */ .ij)(id);
        if (this.staging.holds(id))
            return false;
        const key = `${_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .BACKUP_PREFIX */ .aM}${id}`;
        const taken = this.options.token
            ? (await this.listEntries(key, `check whether backup ${id} exists`)).some((entry) => entry.key === key)
            : (await this.run(this.staging.root, () => _actions_cache__WEBPACK_IMPORTED_MODULE_2__/* .restoreCache */ .P3([this.staging.folder(id)], key, [], { lookupOnly: true }))) === key;
        return !taken && this.staging.claim(id);
    }
    writePart(id, name, data) {
        return this.staging.writePart(id, name, data);
    }
    readPart(id, name) {
        return this.staging.readPart(id, name);
    }
    async writeManifest(id, manifest) {
        await this.staging.writeManifest(id, manifest, async (folder) => {
            await this.save([folder], `${_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .BACKUP_PREFIX */ .aM}${id}`, this.staging.root, `backup ${id}`);
        });
    }
    readManifest(id) {
        return this.staging.readManifest(id);
    }
    async writeMark(id, mark, text) {
        if ((await this.readManifest(id)) === undefined)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo(`backup ${id} is not in ${this.location}`, 'Backup store');
        const file = this.markFile(id, mark);
        await (0,_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .writeFresh */ ._o)(file, text);
        await this.save([file], `${_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .BACKUP_PREFIX */ .aM}${id}+${mark}+${Date.now()}`, this.marks, `the ${mark} mark of backup ${id}`);
    }
    /** Entries are immutable here: a newer, empty mark stands for none (readMark reads only the newest). */
    async removeMark(id, mark) {
        await this.writeMark(id, mark, '');
    }
    async readMark(id, mark) {
        const file = this.markFile(id, mark);
        await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.rm(file, { force: true });
        const prefix = `${_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .BACKUP_PREFIX */ .aM}${id}+${mark}+`;
        // No key is exactly the prefix: the service answers with the newest entry starting with it.
        const matched = await this.run(this.marks, () => _actions_cache__WEBPACK_IMPORTED_MODULE_2__/* .restoreCache */ .P3([file], prefix, [prefix]));
        if (!matched?.startsWith(prefix))
            return undefined;
        const text = await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.readFile(file, 'utf8').catch(() => undefined);
        return text || undefined;
    }
    async list() {
        const entries = await this.listEntries(_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .BACKUP_PREFIX */ .aM, 'list backups');
        const ids = entries
            .map((entry) => entry.key?.slice(_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .BACKUP_PREFIX */ .aM.length) ?? '')
            .filter((id) => !id.includes('+') && !(0,_local_js__WEBPACK_IMPORTED_MODULE_5__/* .idProblem */ .l)(id));
        return [...new Set(ids)];
    }
    async remove(id) {
        (0,_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .checkId */ .ij)(id);
        const key = `${_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .BACKUP_PREFIX */ .aM}${id}`;
        const { octokit, repository } = this.api(`remove backup ${id}`);
        const entries = (await this.listEntries(key, `remove backup ${id}`, { octokit, repository })).filter((entry) => entry.key === key || entry.key?.startsWith(`${key}+`));
        for (const entry of entries) {
            if (entry.id === undefined)
                continue;
            try {
                await octokit.rest.actions.deleteActionsCacheById({ ...repository, cache_id: entry.id });
            }
            catch (error) {
                // Gone already (evicted, or another prune got there first): that is what we wanted.
                if (error.status === 404)
                    continue;
                throw (0,_github_client_js__WEBPACK_IMPORTED_MODULE_4__/* .explainGitHubFailure */ .d5)(error, {
                    action: `delete the Actions cache entry ${entry.key ?? entry.id}`,
                    permission: 'actions: write',
                    repository,
                });
            }
        }
        await this.staging.forget(id);
        await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.rm(node_path__WEBPACK_IMPORTED_MODULE_1___default().join(this.marks, id), { recursive: true, force: true });
    }
    /** Restores backup `id` into the staging folder; false when no entry has it. */
    async restore(id) {
        const key = `${_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .BACKUP_PREFIX */ .aM}${id}`;
        const matched = await this.run(this.staging.root, () => _actions_cache__WEBPACK_IMPORTED_MODULE_2__/* .restoreCache */ .P3([this.staging.folder(id)], key));
        if (matched === key)
            return true;
        // The toolkit reports a failed download as a miss (with a warning). With a token we can tell
        // a backup that is not there from one this run cannot get.
        if (!this.options.token)
            return false;
        const saved = (await this.listEntries(key, `read backup ${id}`)).filter((entry) => entry.key === key);
        if (saved.length === 0)
            return false;
        const refs = [...new Set(saved.map((entry) => entry.ref))].join(', ');
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo(`backup ${id} is in the Actions cache (saved on ${refs}) but this run could not restore it. A run ` +
            'restores only entries of its own branch and the default branch, saved on a runner with the same ' +
            'RUNNER_TEMP path and compression tool (zstd or gzip); otherwise the download failed (see the log above).', 'Backup store');
    }
    async save(paths, key, workspace, what) {
        const saved = await this.run(workspace, () => _actions_cache__WEBPACK_IMPORTED_MODULE_2__/* .saveCache */ .Io(paths, key));
        // The toolkit logs why a save failed and answers -1; it throws only on bad input.
        if (saved === -1)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo(`could not save ${what} in the Actions cache as "${key}" (the toolkit's log above says why): an entry with ` +
                'this key may exist already (entries cannot be replaced), the job may not be allowed to write ' +
                'to the cache, or the cache service failed.', 'Backup store');
    }
    /** Runs a toolkit call with the job's environment; the toolkit's tar works relative to `workspace`. */
    run(workspace, work) {
        const { env, tempDir } = this.options;
        if (!env.ACTIONS_RUNTIME_TOKEN || !(env.ACTIONS_RESULTS_URL || env.ACTIONS_CACHE_URL))
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo('store actions-cache works only inside a GitHub Actions job: ACTIONS_RUNTIME_TOKEN and ' +
                'ACTIONS_RESULTS_URL are not set. The runner gives them to JavaScript actions such as ' +
                'switchyard/backup, not to `run:` steps; elsewhere use a `local:` store.', 'Backup store');
        return (0,_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .withRunnerEnvironment */ .wR)(env, { RUNNER_TEMP: tempDir, GITHUB_WORKSPACE: workspace }, async () => {
            await (0,_atomic_write_js__WEBPACK_IMPORTED_MODULE_7__/* .makeDirectory */ .Oh)(workspace);
            return work();
        });
    }
    async listEntries(prefix, doing, api = this.api(doing)) {
        const { octokit, repository } = api;
        try {
            return await octokit.paginate(octokit.rest.actions.getActionsCacheList, {
                ...repository,
                key: prefix,
                per_page: 100,
            });
        }
        catch (error) {
            throw (0,_github_client_js__WEBPACK_IMPORTED_MODULE_4__/* .explainGitHubFailure */ .d5)(error, {
                action: 'list the Actions cache entries',
                permission: 'actions: read',
                repository,
            });
        }
    }
    api(doing) {
        return (0,_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .restApi */ .XH)(this.options, this.location, doing);
    }
    markFile(id, mark) {
        (0,_runner_js__WEBPACK_IMPORTED_MODULE_6__/* .checkId */ .ij)(id);
        return node_path__WEBPACK_IMPORTED_MODULE_1___default().join(this.marks, id, `${mark}.json`);
    }
}


/***/ }),

/***/ 99477:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   CP: () => (/* binding */ Staging),
/* harmony export */   XH: () => (/* binding */ restApi),
/* harmony export */   _o: () => (/* binding */ writeFresh),
/* harmony export */   aM: () => (/* binding */ BACKUP_PREFIX),
/* harmony export */   f_: () => (/* binding */ tokenNeeded),
/* harmony export */   ij: () => (/* binding */ checkId),
/* harmony export */   wR: () => (/* binding */ withRunnerEnvironment)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(93370);
/* harmony import */ var _github_client_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(69074);
/* harmony import */ var _local_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(4008);
/* harmony import */ var _atomic_write_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(25006);






/** Every cache key and artifact name of a backup starts with it; marks add `+<mark>+<time>`. */
const BACKUP_PREFIX = 'switchyard-backup-';
/**
 * The local folder a runner-backed store keeps backups in on their way: parts are written here and
 * uploaded in one piece with the manifest; a backup written elsewhere is downloaded here, once per
 * store, before it is read. A folder this store did not write or download is never trusted: it may
 * be what an interrupted run left behind.
 */
class Staging {
    root;
    location;
    download;
    local;
    /**
     * Ids this store wrote, or is writing (their folders are the truth, nothing to download), each
     * with the emptying of its folder that came first — parts may be written side by side.
     */
    written = new Map();
    fetched = new Map();
    constructor(root, location, 
    /** Downloads backup `id` into folder(id); false when the store does not have it. */
    download) {
        this.root = root;
        this.location = location;
        this.download = download;
        this.local = (0,_local_js__WEBPACK_IMPORTED_MODULE_4__/* .createLocalStore */ .B)(root);
    }
    folder(id) {
        checkId(id);
        return node_path__WEBPACK_IMPORTED_MODULE_1___default().join(this.root, id);
    }
    /** Whether this store is writing (or wrote) backup `id`. */
    holds(id) {
        return this.written.has(id);
    }
    /** Takes `id` for a backup this store is about to write; false when it already holds it. */
    async claim(id) {
        if (this.holds(id))
            return false;
        await this.startWriting(id);
        return true;
    }
    async writePart(id, name, data) {
        await this.startWriting(id);
        await this.relabel(this.local.writePart(id, name, data));
    }
    async readPart(id, name) {
        if (!(await this.available(id)))
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .UserError */ .yo(`backup ${id} is not in ${this.location}`, 'Backup store');
        return this.relabel(this.local.readPart(id, name));
    }
    /** Stages the manifest, then `upload`s the folder; a failed upload takes the manifest back out. */
    async writeManifest(id, manifest, upload) {
        await this.startWriting(id);
        await this.relabel(this.local.writeManifest(id, manifest));
        try {
            await upload(this.folder(id));
        }
        catch (error) {
            await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.rm(node_path__WEBPACK_IMPORTED_MODULE_1___default().join(this.folder(id), 'manifest.json'), { force: true });
            throw error;
        }
    }
    async readManifest(id) {
        if (!(await this.available(id)))
            return undefined;
        return this.relabel(this.local.readManifest(id));
    }
    /** The files of backup `id`'s folder (parts and manifest), for an upload. */
    async files(id) {
        const folder = this.folder(id);
        const names = await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.readdir(folder);
        return names.filter((name) => !name.startsWith('.')).map((name) => node_path__WEBPACK_IMPORTED_MODULE_1___default().join(folder, name));
    }
    async forget(id) {
        this.written.delete(id);
        this.fetched.delete(id);
        await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.rm(this.folder(id), { recursive: true, force: true });
    }
    startWriting(id) {
        let emptied = this.written.get(id);
        if (!emptied) {
            const folder = this.folder(id);
            this.fetched.delete(id);
            emptied = node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.rm(folder, { recursive: true, force: true });
            this.written.set(id, emptied);
        }
        return emptied;
    }
    available(id) {
        if (this.written.has(id))
            return Promise.resolve(true);
        let fetching = this.fetched.get(id);
        if (!fetching) {
            const folder = this.folder(id);
            fetching = node_fs__WEBPACK_IMPORTED_MODULE_0__.promises
                .rm(folder, { recursive: true, force: true })
                .then(() => this.download(id))
                .catch((error) => {
                this.fetched.delete(id);
                throw error;
            });
            this.fetched.set(id, fetching);
        }
        return fetching;
    }
    /** The local store's messages name the staging folder; the user chose this store, not that folder. */
    async relabel(work) {
        try {
            return await work;
        }
        catch (error) {
            if (!(error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .UserError */ .yo) || error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .dz)
                throw error;
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .UserError */ .yo(error.message.replaceAll(this.local.location, this.location), error.title);
        }
    }
}
function checkId(id) {
    const problem = (0,_local_js__WEBPACK_IMPORTED_MODULE_4__/* .idProblem */ .l)(id);
    if (problem)
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .dz('id', problem);
}
/** A REST client for the job's repository; without a token, a UserError saying why one is needed. */
function restApi(options, location, doing) {
    if (!options.token)
        throw tokenNeeded(location, doing);
    return {
        octokit: (0,_github_client_js__WEBPACK_IMPORTED_MODULE_3__/* .githubClient */ .$f)(options.token, options.env, { log: options.log }),
        repository: (0,_github_client_js__WEBPACK_IMPORTED_MODULE_3__/* .repoFromEnv */ .K)(options.env),
    };
}
function tokenNeeded(location, doing) {
    return new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .UserError */ .yo(`store ${location} needs \`github-token\` to ${doing}: listing, pruning and \`id: latest\` go through ` +
        "GitHub's REST API. Pass `github-token: ${{ github.token }}` and give the job `permissions: actions: write` " +
        '(`actions: read` is enough without prune).', 'Backup store');
}
/**
 * The variables @actions/cache and @actions/artifact read from process.env: they take no options
 * for them. (GITHUB_API_URL is read once, when @actions/github is first imported.)
 */
const RUNNER_VARIABLES = [
    'ACTIONS_RUNTIME_TOKEN',
    'ACTIONS_RESULTS_URL',
    'ACTIONS_CACHE_URL',
    'ACTIONS_CACHE_SERVICE_V2',
    'ACTIONS_CACHE_MODE',
    'ACTIONS_ARTIFACT_UPLOAD_CONCURRENCY',
    'ACTIONS_ARTIFACT_UPLOAD_TIMEOUT_MS',
    'CACHE_UPLOAD_CONCURRENCY',
    'CACHE_UPLOAD_CHUNK_SIZE',
    'SEGMENT_DOWNLOAD_TIMEOUT_MINS',
    'GITHUB_SERVER_URL',
    'GITHUB_RETENTION_DAYS',
    'GITHUB_WORKSPACE',
    'RUNNER_TEMP',
];
let toolkitQueue = Promise.resolve();
/**
 * Runs `work` with process.env holding the job's variables (the core passes its environment in;
 * the toolkit only reads process.env), restoring them after. Calls take turns, so two stores never
 * see each other's variables.
 */
function withRunnerEnvironment(env, overrides, work) {
    const turn = async () => {
        const saved = RUNNER_VARIABLES.map((name) => [name, process.env[name]]);
        const wanted = { ...env, ...overrides };
        const apply = (name, value) => {
            if (value === undefined)
                delete process.env[name];
            else
                process.env[name] = value;
        };
        for (const name of RUNNER_VARIABLES)
            apply(name, wanted[name]);
        try {
            return await work();
        }
        finally {
            for (const [name, value] of saved)
                apply(name, value);
        }
    };
    const result = toolkitQueue.then(turn, turn);
    toolkitQueue = result.catch(() => undefined);
    return result;
}
/** Writes a small file whole, in a folder of its own that holds nothing else. */
async function writeFresh(file, text) {
    await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.rm(node_path__WEBPACK_IMPORTED_MODULE_1___default().dirname(file), { recursive: true, force: true });
    await (0,_atomic_write_js__WEBPACK_IMPORTED_MODULE_5__/* .makeDirectory */ .Oh)(node_path__WEBPACK_IMPORTED_MODULE_1___default().dirname(file));
    await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.writeFile(file, text, { encoding: 'utf8', mode: 0o600 });
}


/***/ }),

/***/ 69074:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   $f: () => (/* binding */ githubClient),
/* harmony export */   K: () => (/* binding */ repoFromEnv),
/* harmony export */   d5: () => (/* binding */ explainGitHubFailure)
/* harmony export */ });
/* unused harmony exports GITHUB_API_VERSION, serverUrl, apiUrl, GitHubError */
/* harmony import */ var _actions_github__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(61351);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(93370);
/* harmony import */ var _report_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(35999);



/**
 * Pinned so a new default API version on GitHub's side cannot change what our calls mean. It is
 * the version GitHub's REST documentation shows in every example.
 */
const GITHUB_API_VERSION = '2022-11-28';
/** A GitHub call that hangs must not hold up a deploy: the caller decides whether to go on. */
const REQUEST_TIMEOUT_MS = 30_000;
/** The GitHub web site's address (GITHUB_SERVER_URL on GitHub Enterprise Server), for links. */
function serverUrl(env) {
    return (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
}
function apiUrl(env) {
    return (env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '');
}
/**
 * An authenticated REST client for the API named by GITHUB_API_URL (GitHub Enterprise Server
 * sets it; tests point it at a local fake). The caller must have registered `token` as a secret
 * before anything is logged.
 */
function githubClient(token, env, options = {}) {
    if (!token)
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .yo('github-token is empty: pass a token, e.g. `github-token: ${{ github.token }}`.');
    const debug = options.log ?? (() => { });
    // Octokit's own logger writes to the console, around our redaction: route it to the debug log.
    const log = { debug, info: debug, warn: debug, error: debug };
    const octokit = (0,_actions_github__WEBPACK_IMPORTED_MODULE_0__/* .getOctokit */ .Q)(token, {
        baseUrl: apiUrl(env),
        userAgent: `switchyard/${_report_js__WEBPACK_IMPORTED_MODULE_2__/* .SWITCHYARD_VERSION */ .O}`,
        log,
    });
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    octokit.hook.before('request', (request) => {
        request.headers['x-github-api-version'] = GITHUB_API_VERSION;
        // @octokit/request warns about deprecated endpoints on `request.log`, the console by default.
        request.request = {
            ...request.request,
            log,
            signal: request.request?.signal ?? AbortSignal.timeout(timeoutMs),
        };
    });
    return octokit;
}
/** The repository the workflow runs in (GITHUB_REPOSITORY, "owner/name"). */
function repoFromEnv(env, purpose = 'record deployments in') {
    const value = env.GITHUB_REPOSITORY?.trim();
    if (!value) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .yo(`GITHUB_REPOSITORY is not set, so switchyard does not know which repository to ${purpose}. ` +
            'GitHub Actions sets it; elsewhere, set GITHUB_REPOSITORY=owner/name.');
    }
    const match = /^([^/\s]+)\/([^/\s]+)$/.exec(value);
    if (!match)
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .yo(`GITHUB_REPOSITORY is "${value}"; expected "owner/name", e.g. "octo-org/shop".`);
    return { owner: match[1], repo: match[2] };
}
/**
 * A GitHub API call failed. It is a UserError (the message says what to fix), and a distinct
 * type so a caller for whom the call is a side show (recording a deployment) can warn and go on.
 */
class GitHubError extends _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .yo {
    status;
    requestId;
    constructor(message, 
    /** The HTTP status; undefined when GitHub could not be reached. */
    status, 
    /** GitHub's x-github-request-id, for a support ticket. */
    requestId) {
        super(message, 'GitHub API');
        this.status = status;
        this.requestId = requestId;
        this.name = 'GitHubError';
    }
}
function isHttpFailure(error) {
    return error instanceof Error && typeof error.status === 'number';
}
/** GitHub's own words: the `message` and the `errors` of its JSON answer, never the request. */
function gitHubSaid(data) {
    if (typeof data !== 'object' || data === null)
        return '';
    const { message, errors } = data;
    const details = Array.isArray(errors)
        ? errors
            .map((each) => typeof each === 'string' ? each : typeof each?.message === 'string' ? each.message : each?.code)
            .filter((each) => typeof each === 'string' && each.length > 0)
        : [];
    return [typeof message === 'string' ? message : '', ...details].filter(Boolean).join('; ');
}
/**
 * Turns a failed Octokit call into a GitHubError that says what to fix. Only GitHub's answer
 * and the call's description go into the message: never the request, whose headers hold the token.
 */
function explainGitHubFailure(error, call) {
    if (error instanceof GitHubError)
        return error;
    const repo = `${call.repository.owner}/${call.repository.repo}`;
    if (!isHttpFailure(error)) {
        const reason = error instanceof Error ? error.message : String(error);
        return new GitHubError(`Could not ${call.action} in ${repo}: ${reason}.`);
    }
    const { status } = error;
    const headers = error.response?.headers ?? {};
    const requestId = headers['x-github-request-id'];
    const said = gitHubSaid(error.response?.data);
    const answer = `GitHub answered ${status}${said ? `: ${said}` : ''}`;
    const hint = call.hints?.[status];
    const withHint = (text) => (hint ? `${text} ${hint}` : text);
    const fail = (message) => new GitHubError(withHint(message), status, requestId);
    if (!error.response) {
        // @octokit/request reports a network failure or a timeout as a 500 without a response.
        return new GitHubError(`Could not reach the GitHub API to ${call.action} in ${repo}: ${error.message}. ` +
            'Check GITHUB_API_URL and the network (or https://www.githubstatus.com).');
    }
    if (status === 401) {
        return fail(`github-token was rejected while trying to ${call.action} in ${repo} (${answer}): it is invalid or expired. ` +
            'Pass a valid token, e.g. `github-token: ${{ github.token }}`.');
    }
    if (status === 403 || status === 429) {
        if (headers['x-ratelimit-remaining'] === '0' || /rate limit/i.test(said)) {
            const reset = Number(headers['x-ratelimit-reset']);
            const when = Number.isFinite(reset) && reset > 0 ? ` It resets at ${new Date(reset * 1000).toISOString()}.` : '';
            return fail(`GitHub API rate limit exceeded while trying to ${call.action} in ${repo} (${answer}).${when}`);
        }
        return fail(`github-token lacks the \`${call.permission}\` permission needed to ${call.action} in ${repo} (${answer}). ` +
            `Add \`permissions: ${call.permission}\` to the job (keep \`contents: read\` if it checks out code); ` +
            'a personal access token needs the same repository permission.');
    }
    if (status === 404) {
        return fail(`GitHub could not find what is needed to ${call.action} in ${repo} (${answer}): ` +
            'the repository does not exist, or github-token cannot see it (a token from another repository?).');
    }
    if (status === 409 || status === 422) {
        return fail(`GitHub refused to ${call.action} in ${repo} (${answer}).`);
    }
    if (status >= 500) {
        return fail(`GitHub failed to ${call.action} in ${repo} (${answer}). ` +
            'This is on GitHub\u2019s side; see https://www.githubstatus.com and retry.');
    }
    return fail(`Could not ${call.action} in ${repo} (${answer}).`);
}


/***/ })

};
