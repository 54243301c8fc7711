export const id = 953;
export const ids = [953];
export const modules = {

/***/ 43953:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   createArtifactStore: () => (/* binding */ createArtifactStore)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _actions_artifact__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(77935);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(93370);
/* harmony import */ var _github_client_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(69074);
/* harmony import */ var _runner_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(99477);
/* harmony import */ var _local_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(4008);







/**
 * `artifact` — each backup is ONE workflow artifact named `switchyard-backup-<id>`, holding the
 * parts and manifest.json as files, kept for `retentionDays` (the repository's setting when
 * omitted; GitHub caps it at that setting too).
 *
 * Parts are staged in a folder under `tempDir` (RUNNER_TEMP); writeManifest uploads the whole
 * folder as one artifact. An artifact exists only once its upload is finalized, so a backup
 * interrupted before or during writeManifest leaves nothing behind. A mark (`verified`) is an
 * artifact of its own, `switchyard-backup-<id>+verified+<time>`; the newest one wins.
 *
 * Uploading goes through @actions/artifact and the job's ACTIONS_RUNTIME_TOKEN, which sees only
 * the current workflow run. Everything across runs — list, prune, `id: latest`, reading a backup
 * another run made — goes through the REST API, hence `github-token` (`actions: read`, and
 * `actions: write` to prune). Artifacts expire: a backup outlives its retention only if copied
 * elsewhere.
 */
function createArtifactStore(options) {
    const days = options.retentionDays;
    if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 400))
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo(`artifact retention is ${days} days; use a whole number of days from 1 to 90 (up to 400 in private repositories, as the repository's settings allow)`, 'Backup store');
    return new ArtifactStore(options, days);
}
class ArtifactStore {
    options;
    retentionDays;
    location;
    notes;
    staging;
    marks;
    client = new _actions_artifact__WEBPACK_IMPORTED_MODULE_2__/* .DefaultArtifactClient */ .t9();
    constructor(options, retentionDays) {
        this.options = options;
        this.retentionDays = retentionDays;
        this.location =
            retentionDays === undefined
                ? "artifact (the repository's retention)"
                : `artifact (retention ${retentionDays} day${retentionDays === 1 ? '' : 's'})`;
        this.notes =
            `Backups are workflow artifacts, deleted by GitHub when their retention ends ` +
                `(${retentionDays === undefined ? "the repository's artifact retention setting" : `${retentionDays} days`}); ` +
                'they count against the account’s Actions storage.';
        this.staging = new _runner_js__WEBPACK_IMPORTED_MODULE_5__/* .Staging */ .CP(node_path__WEBPACK_IMPORTED_MODULE_1___default().join(options.tempDir, 'switchyard-artifact'), this.location, (id) => this.download(`${_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .BACKUP_PREFIX */ .aM}${id}`, this.staging.folder(id), `read backup ${id}`));
        this.marks = node_path__WEBPACK_IMPORTED_MODULE_1___default().join(options.tempDir, 'switchyard-artifact-marks');
    }
    /**
     * False when an artifact holds `id` (with a token: from any run; without: from this run). Not
     * atomic across runs: artifact names are unique only within a run, so two runs may both upload
     * one, and readers take the newest.
     */
    async reserve(id) {
        (0,_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .checkId */ .ij)(id);
        if (this.staging.holds(id))
            return false;
        const name = `${_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .BACKUP_PREFIX */ .aM}${id}`;
        const doing = `check whether backup ${id} exists`;
        const taken = this.options.token
            ? (await this.listArtifacts(doing, name)).some((each) => each.name === name && !each.expired)
            : await this.run(() => this.client.getArtifact(name)).then(() => true, (error) => {
                if (error instanceof _actions_artifact__WEBPACK_IMPORTED_MODULE_2__/* .ArtifactNotFoundError */ .CL)
                    return false;
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo(`could not ${doing}: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .messageOf */ .bD)(error)}`, 'Backup store');
            });
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
            await this.upload(`${_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .BACKUP_PREFIX */ .aM}${id}`, await this.staging.files(id), folder, `backup ${id}`);
        });
    }
    readManifest(id) {
        return this.staging.readManifest(id);
    }
    async writeMark(id, mark, text) {
        if ((await this.readManifest(id)) === undefined)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo(`backup ${id} is not in ${this.location}`, 'Backup store');
        const file = this.markFile(id, mark);
        await (0,_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .writeFresh */ ._o)(file, text);
        await this.upload(`${_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .BACKUP_PREFIX */ .aM}${id}+${mark}+${Date.now()}`, [file], node_path__WEBPACK_IMPORTED_MODULE_1___default().dirname(file), `the ${mark} mark of backup ${id}`);
    }
    /** Entries are immutable here: a newer, empty mark stands for none (readMark reads only the newest). */
    async removeMark(id, mark) {
        await this.writeMark(id, mark, '');
    }
    async readMark(id, mark) {
        const file = this.markFile(id, mark);
        const prefix = `${_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .BACKUP_PREFIX */ .aM}${id}+${mark}+`;
        let newest;
        if (this.options.token) {
            newest = newestFirst((await this.listArtifacts(`read the ${mark} mark of backup ${id}`)).filter((each) => each.name.startsWith(prefix) && !each.expired))[0]?.name;
        }
        else {
            // Without a token only this run's artifacts can be seen.
            const { artifacts } = await this.run(() => this.client.listArtifacts());
            newest = artifacts.filter((each) => each.name.startsWith(prefix)).sort((a, b) => b.id - a.id)[0]?.name;
        }
        if (!newest)
            return undefined;
        await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.rm(node_path__WEBPACK_IMPORTED_MODULE_1___default().dirname(file), { recursive: true, force: true });
        if (!(await this.download(newest, node_path__WEBPACK_IMPORTED_MODULE_1___default().dirname(file), `read the ${mark} mark of backup ${id}`)))
            return undefined;
        const text = await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.readFile(file, 'utf8').catch(() => undefined);
        return text || undefined;
    }
    async list() {
        const ids = (await this.listArtifacts('list backups'))
            .filter((each) => each.name.startsWith(_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .BACKUP_PREFIX */ .aM) && !each.expired)
            .map((each) => each.name.slice(_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .BACKUP_PREFIX */ .aM.length))
            .filter((id) => !id.includes('+') && !(0,_local_js__WEBPACK_IMPORTED_MODULE_6__/* .idProblem */ .l)(id));
        return [...new Set(ids)];
    }
    async remove(id) {
        (0,_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .checkId */ .ij)(id);
        const name = `${_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .BACKUP_PREFIX */ .aM}${id}`;
        const { octokit, repository } = (0,_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .restApi */ .XH)(this.options, this.location, `remove backup ${id}`);
        const artifacts = (await this.listArtifacts(`remove backup ${id}`)).filter((each) => each.name === name || each.name.startsWith(`${name}+`));
        for (const artifact of artifacts) {
            try {
                await octokit.rest.actions.deleteArtifact({ ...repository, artifact_id: artifact.id });
            }
            catch (error) {
                // Gone already (expired, or another prune got there first): that is what we wanted.
                if (error.status === 404)
                    continue;
                throw (0,_github_client_js__WEBPACK_IMPORTED_MODULE_4__/* .explainGitHubFailure */ .d5)(error, {
                    action: `delete the artifact ${artifact.name}`,
                    permission: 'actions: write',
                    repository,
                });
            }
        }
        await this.staging.forget(id);
        await node_fs__WEBPACK_IMPORTED_MODULE_0__.promises.rm(node_path__WEBPACK_IMPORTED_MODULE_1___default().join(this.marks, id), { recursive: true, force: true });
    }
    async upload(name, files, root, what) {
        try {
            await this.run(() => this.client.uploadArtifact(name, files, root, {
                ...(this.retentionDays === undefined ? {} : { retentionDays: this.retentionDays }),
            }));
        }
        catch (error) {
            if (error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo)
                throw error;
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo(`could not upload ${what} as the artifact "${name}": ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .messageOf */ .bD)(error)}`, 'Backup store');
        }
    }
    /**
     * Downloads the newest artifact called `name` into `folder`; false when there is none. With a
     * token it may come from any run of the repository, without one only from this run.
     */
    async download(name, folder, doing) {
        const { token } = this.options;
        try {
            if (token) {
                const { repository } = (0,_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .restApi */ .XH)(this.options, this.location, doing);
                const found = newestFirst((await this.listArtifacts(doing, name)).filter((each) => each.name === name && !each.expired && each.workflow_run?.id !== undefined))[0];
                if (!found)
                    return false;
                await this.run(() => this.client.downloadArtifact(found.id, {
                    path: folder,
                    findBy: {
                        token,
                        workflowRunId: found.workflow_run.id,
                        repositoryOwner: repository.owner,
                        repositoryName: repository.repo,
                    },
                }), false);
                return true;
            }
            const found = await this.run(() => this.client.getArtifact(name)).catch((error) => {
                if (error instanceof _actions_artifact__WEBPACK_IMPORTED_MODULE_2__/* .ArtifactNotFoundError */ .CL)
                    return undefined;
                throw error;
            });
            // Another run may have it: only the REST API could tell.
            if (!found)
                throw (0,_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .tokenNeeded */ .f_)(this.location, `${doing}, which this workflow run did not upload`);
            await this.run(() => this.client.downloadArtifact(found.artifact.id, { path: folder }));
            return true;
        }
        catch (error) {
            if (error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo)
                throw error;
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo(`could not ${doing} from the artifact "${name}": ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .messageOf */ .bD)(error)}`, 'Backup store');
        }
    }
    /** The repository's artifacts (all of them, or those called `name`), through the REST API. */
    async listArtifacts(doing, name) {
        const { octokit, repository } = (0,_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .restApi */ .XH)(this.options, this.location, doing);
        try {
            return await octokit.paginate(octokit.rest.actions.listArtifactsForRepo, {
                ...repository,
                ...(name === undefined ? {} : { name }),
                per_page: 100,
            });
        }
        catch (error) {
            throw (0,_github_client_js__WEBPACK_IMPORTED_MODULE_4__/* .explainGitHubFailure */ .d5)(error, {
                action: 'list the workflow artifacts',
                permission: 'actions: read',
                repository,
            });
        }
    }
    /** Runs a toolkit call with the job's environment; only a download by REST needs no runtime token. */
    run(work, needsRuntime = true) {
        const { env, tempDir } = this.options;
        if (needsRuntime && !(env.ACTIONS_RUNTIME_TOKEN && env.ACTIONS_RESULTS_URL))
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .yo('store artifact works only inside a GitHub Actions job: ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL ' +
                'are not set. The runner gives them to JavaScript actions such as switchyard/backup, not to `run:` ' +
                'steps; elsewhere use a `local:` store.', 'Backup store');
        return (0,_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .withRunnerEnvironment */ .wR)(env, { RUNNER_TEMP: tempDir }, work);
    }
    markFile(id, mark) {
        (0,_runner_js__WEBPACK_IMPORTED_MODULE_5__/* .checkId */ .ij)(id);
        return node_path__WEBPACK_IMPORTED_MODULE_1___default().join(this.marks, id, `${mark}.json`);
    }
}
function newestFirst(artifacts) {
    return [...artifacts].sort((a, b) => b.id - a.id);
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
