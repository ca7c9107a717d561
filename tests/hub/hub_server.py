"""A local HTTP server speaking the subset of the Hugging Face Hub protocol that huggingface_hub, datasets and
transformers use to create, upload to, list and download from repos. Test infrastructure only.

Point the real libraries at it with ``HF_ENDPOINT=<server.url>`` and ``HF_HUB_DISABLE_XET=1`` (uploads then use the
plain LFS protocol). Routes served:

    GET  /api/whoami-v2                                   who the bearer token belongs to
    POST /api/repos/create, DELETE /api/repos/delete      create (409 when it exists) / delete a repo
    GET  /api/{type}s/{repo}[/revision/{rev}]             repo info (sha, siblings, cardData, private)
    GET  /api/{type}s/{repo}/refs                         branches (main only)
    POST /api/{type}s/{repo}/preupload/{rev}              regular vs LFS upload mode per file
    POST /{prefix}{repo}.git/info/lfs/objects/batch       LFS batch: upload actions for missing objects
    PUT  /_lfs/{oid}                                      LFS object upload (sha256 checked)
    POST /api/{type}s/{repo}/commit/{rev}                 NDJSON commit (file, lfsFile, deletedFile, deletedFolder)
    GET  /api/{type}s/{repo}/tree/{rev}[/{path}]          listing (recursive or not)
    POST /api/{type}s/{repo}/paths-info/{rev}             entries for given paths
    GET|HEAD /{prefix}{repo}/resolve/{rev}/{path}         file content (Range supported), ETag, X-Repo-Commit

Private repos are visible only with their owner's token; writes need a valid token for the namespace. Run it alone
with ``python tests/hub/hub_server.py --port 8999`` (token ``hf_localtesttoken0000000000000000``, user ``me``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TOKENS = {"hf_localtesttoken0000000000000000": "me"}
PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
LFS_SUFFIXES = (".safetensors", ".parquet", ".bin", ".pt", ".arrow", ".gguf", ".zip", ".npy")
LFS_THRESHOLD = 10 * 1024 * 1024


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


@dataclass
class Entry:
    data: bytes
    lfs_oid: str | None = None  # sha256 of the content when stored through LFS

    @property
    def oid(self) -> str:
        return git_blob_oid(lfs_pointer(self.lfs_oid, len(self.data)) if self.lfs_oid else self.data)


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    files: dict[str, Entry] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)

    @property
    def sha(self) -> str:
        return self.commits[-1]["id"]

    def card_data(self) -> dict[str, Any]:
        readme = self.files.get("README.md")
        if not readme:
            return {}
        match = re.match(rb"^---\s*\n(.*?)\n---\s*\n", readme.data, re.S)
        if not match:
            return {}
        import yaml

        try:
            return yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError:
            return {}


class HubState:
    """Repos, LFS objects and a request log, shared by the handler threads."""

    def __init__(self, tokens: dict[str, str] | None = None):
        self.tokens = dict(DEFAULT_TOKENS if tokens is None else tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.log: list[str] = []
        self.lock = threading.RLock()

    def commit(self, repo: Repo, title: str, apply: Any = None) -> str:
        with self.lock:
            if apply:
                apply(repo.files)
            blob = json.dumps(
                [title, time.time(), len(repo.commits), sorted((p, e.oid) for p, e in repo.files.items())]
            )
            sha = hashlib.sha1(blob.encode()).hexdigest()
            repo.commits.append({"id": sha, "title": title, "date": _iso(time.time())})
            return sha


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubServer  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:  # quiet; requests go to state.log instead
        pass

    # ------------------------------------------------------------------------------------------------ plumbing
    @property
    def state(self) -> HubState:
        return self.server.state

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return self.state.tokens.get(auth[7:].strip())
        return None

    def _send(self, status: int, body: Any = b"", headers: dict[str, str] | None = None, head: bool = False) -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, err: HubError, head: bool = False) -> None:
        headers = {"X-Error-Message": err.message}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send(err.status, {"error": err.message}, headers, head=head)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        status = 200
        try:
            self._route(method, path, query)
        except HubError as err:
            status = err.status
            self._error(err, head=method == "HEAD")
        except Exception as err:  # a server bug must surface as a 500, not a hung client
            status = 500
            self._error(HubError(500, f"{type(err).__name__}: {err}"), head=method == "HEAD")
        with self.state.lock:
            self.state.log.append(f"{method} {url.path} {status}")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -------------------------------------------------------------------------------------------------- repos
    def _repo(self, repo_type: str, repo_id: str, write: bool = False) -> Repo:
        user = self._user()
        repo = self.state.repos.get((repo_type, repo_id))
        visible = repo is not None and (not repo.private or user == repo_id.split("/")[0])
        if not visible:
            raise HubError(404 if user else 401, f"Repository Not Found for url: {repo_id}", "RepoNotFound")
        if write and user != repo_id.split("/")[0]:
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    @staticmethod
    def _check_revision(repo: Repo, revision: str) -> None:
        if revision not in ("main", "refs/heads/main") and revision not in {c["id"] for c in repo.commits}:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        head = method == "HEAD"
        if path == "/api/whoami-v2" and method == "GET":
            user = self._user()
            if not user:
                raise HubError(401, "Invalid credentials in Authorization header")
            return self._send(
                200, {"type": "user", "name": user, "fullname": user, "orgs": [], "auth": {"type": "access_token"}}
            )
        if path == "/api/repos/create" and method == "POST":
            return self._create(json.loads(self._body() or b"{}"))
        if path == "/api/repos/delete" and method == "DELETE":
            payload = json.loads(self._body() or b"{}")
            repo_id = f"{payload.get('organization') or self._user()}/{payload['name']}"
            repo = self._repo(payload.get("type") or "model", repo_id, write=True)
            del self.state.repos[(repo.repo_type, repo.repo_id)]
            return self._send(200, {})
        if path == "/api/validate-yaml" and method == "POST":
            payload = json.loads(self._body() or b"{}")
            errors = validate_metadata(payload.get("content", ""), payload.get("repoType") or "model")
            return self._send(400 if errors else 200, {"errors": [{"message": e} for e in errors], "warnings": []})
        if path.startswith("/api/"):
            return self._api(method, path, query)
        m = re.match(r"^/(datasets/|spaces/)?([^/]+/[^/]+?)\.git/info/lfs/objects/batch$", path)
        if m and method == "POST":
            return self._lfs_batch(_type_of(m.group(1)), m.group(2))
        m = re.match(r"^/_lfs/([0-9a-f]{64})$", path)
        if m and method == "PUT":
            return self._lfs_put(m.group(1))
        m = re.match(r"^/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m and method in ("GET", "HEAD"):
            return self._resolve(_type_of(m.group(1)), m.group(2), m.group(3), m.group(4), head)
        raise HubError(404, f"no route for {method} {path}")

    def _create(self, payload: dict[str, Any]) -> None:
        user = self._user()
        if not user:
            raise HubError(401, "You must be authenticated to create a repo")
        namespace = payload.get("organization") or user
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a repo under {namespace}")
        repo_type = payload.get("type") or "model"
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.server.url}/{PREFIXES[repo_type]}{repo_id}"
        with self.state.lock:
            if (repo_type, repo_id) in self.state.repos:  # the Hub answers 409 with the url; exist_ok reads it
                return self._send(409, {"error": "You already created this repo", "url": url})
            private = payload.get("private") or payload.get("visibility") == "private"
            repo = Repo(repo_type, repo_id, bool(private))
            self.state.repos[(repo_type, repo_id)] = repo
            gitattributes = (
                b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"
            )
            self.state.commit(
                repo, "initial commit", lambda files: files.update({".gitattributes": Entry(gitattributes)})
            )
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _api(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        m = re.match(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+?)(?:/(.*))?$", path)
        if not m:
            raise HubError(404, f"no route for {method} {path}")
        repo_type, repo_id, rest = m.group(1)[:-1], m.group(2), m.group(3) or ""
        if rest == "" or rest.startswith("revision/"):
            repo = self._repo(repo_type, repo_id)
            if rest:
                self._check_revision(repo, rest[len("revision/") :])
            return self._send(200, self._info(repo))
        if rest == "refs" and method == "GET":
            repo = self._repo(repo_type, repo_id)
            branch = {"name": "main", "ref": "refs/heads/main", "targetCommit": repo.sha}
            return self._send(200, {"branches": [branch], "converts": [], "tags": []})
        if rest == "settings" and method == "PUT":
            repo = self._repo(repo_type, repo_id, write=True)
            payload = json.loads(self._body() or b"{}")
            if "private" in payload:
                repo.private = bool(payload["private"])
            return self._send(200, {})
        action, _, tail = rest.partition("/")
        if action == "preupload" and method == "POST":
            repo = self._repo(repo_type, repo_id, write=True)
            files = json.loads(self._body())["files"]
            out = []
            for f in files:
                lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] >= LFS_THRESHOLD
                existing = repo.files.get(f["path"])
                out.append(
                    {
                        "path": f["path"],
                        "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False,
                        "oid": existing.oid if existing else None,
                    }
                )
            return self._send(200, {"files": out, "commitOid": repo.sha})
        if action == "commit" and method == "POST":
            return self._commit(self._repo(repo_type, repo_id, write=True), tail)
        if action == "tree" and method == "GET":
            repo = self._repo(repo_type, repo_id)
            revision, _, sub = tail.partition("/")
            self._check_revision(repo, revision)
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            return self._send(200, self._tree(repo, sub.strip("/"), recursive))
        if action == "paths-info" and method == "POST":
            repo = self._repo(repo_type, repo_id)
            self._check_revision(repo, tail)
            body = self._body().decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                paths = json.loads(body).get("paths", [])
            else:
                paths = parse_qs(body).get("paths", [])
            return self._send(200, self._paths_info(repo, paths))
        raise HubError(404, f"no route for {method} {path}")

    def _info(self, repo: Repo) -> dict[str, Any]:
        return {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": repo.sha,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "createdAt": _iso(repo.created),
            "lastModified": repo.commits[-1]["date"],
            "cardData": repo.card_data(),
            "siblings": [{"rfilename": p} for p in sorted(repo.files)],
        }

    def _entry(self, repo: Repo, path: str, entry: Entry) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": len(entry.data), "path": path}
        if entry.lfs_oid:
            out["lfs"] = {"oid": entry.lfs_oid, "size": len(entry.data), "pointerSize": 134}
        out["lastCommit"] = {"id": repo.sha, "title": repo.commits[-1]["title"], "date": repo.commits[-1]["date"]}
        return out

    def _tree(self, repo: Repo, sub: str, recursive: bool) -> list[dict[str, Any]]:
        prefix = f"{sub}/" if sub else ""
        if sub and sub in repo.files:
            raise HubError(404, f"{sub} is a file, not a folder", "EntryNotFound")
        out, dirs = [], set()
        for path in sorted(repo.files):
            if not path.startswith(prefix):
                continue
            rel = path[len(prefix) :]
            parts = rel.split("/")
            for i in range(1, len(parts) if recursive else min(2, len(parts))):
                dirs.add(prefix + "/".join(parts[:i]))
            if recursive or len(parts) == 1:
                out.append(self._entry(repo, path, repo.files[path]))
        if sub and not out and not dirs:
            raise HubError(404, f"{sub} does not exist", "EntryNotFound")
        folders = [
            {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
            for d in sorted(dirs)
        ]
        return folders + out

    def _paths_info(self, repo: Repo, paths: list[str]) -> list[dict[str, Any]]:
        out = []
        for p in paths:
            p = p.strip("/")
            if p in repo.files:
                out.append(self._entry(repo, p, repo.files[p]))
            elif any(f.startswith(p + "/") for f in repo.files):
                out.append({"type": "directory", "oid": hashlib.sha1(p.encode()).hexdigest(), "size": 0, "path": p})
        return out

    # ---------------------------------------------------------------------------------------------- uploading
    def _lfs_batch(self, repo_type: str, repo_id: str) -> None:
        self._repo(repo_type, repo_id, write=True)
        payload = json.loads(self._body())
        objects = []
        for obj in payload.get("objects", []):
            item = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.state.lfs:  # no actions = the server already has it
                item["actions"] = {"upload": {"href": f"{self.server.url}/_lfs/{obj['oid']}", "header": {}}}
            objects.append(item)
        self._send(200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"})

    def _lfs_put(self, oid: str) -> None:
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, "sha256 of the uploaded object does not match its oid")
        with self.state.lock:
            self.state.lfs[oid] = data
        self._send(200, b"")

    def _commit(self, repo: Repo, revision: str) -> None:
        self._check_revision(repo, revision)
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), {})
        parent = header.get("parentCommit")
        if parent and parent != repo.sha:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        changes: list[tuple[str, str, Entry | None]] = []
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                data = (
                    base64.b64decode(value["content"])
                    if value.get("encoding") == "base64"
                    else value["content"].encode()
                )
                changes.append(("add", value["path"], Entry(data)))
            elif key == "lfsFile":
                if value["oid"] not in self.state.lfs:
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                changes.append(("add", value["path"], Entry(self.state.lfs[value["oid"]], lfs_oid=value["oid"])))
            elif key == "deletedFile":
                if value["path"] not in repo.files:
                    raise HubError(404, f"cannot delete {value['path']}: not in the repo", "EntryNotFound")
                changes.append(("del", value["path"], None))
            elif key == "deletedFolder":
                changes.append(("deldir", value["path"].strip("/"), None))
            elif key != "header":
                raise HubError(400, f"unsupported commit operation {key}")

        def apply(files: dict[str, Entry]) -> None:
            for op, p, entry in changes:
                if op == "add":
                    files[p] = entry
                elif op == "del":
                    files.pop(p, None)
                else:
                    for f in [f for f in files if f.startswith(p + "/")]:
                        del files[f]

        sha = self.state.commit(repo, header.get("summary") or "commit", apply)
        url = f"{self.server.url}/{PREFIXES[repo.repo_type]}{repo.repo_id}/commit/{sha}"
        self._send(200, {"success": True, "commitOid": sha, "commitUrl": url})

    # -------------------------------------------------------------------------------------------- downloading
    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str, head: bool) -> None:
        repo = self._repo(repo_type, repo_id)
        self._check_revision(repo, revision)
        entry = repo.files.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        etag = f'"{entry.lfs_oid or entry.oid}"'
        headers = {
            "ETag": etag,
            "X-Repo-Commit": repo.sha,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if entry.lfs_oid:
            headers["X-Linked-Etag"] = etag
            headers["X-Linked-Size"] = str(len(entry.data))
        data, status = entry.data, 200
        match = re.match(r"bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if match and (match.group(1) or match.group(2)):
            size = len(data)
            if match.group(1):
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else size - 1
            else:  # suffix range: the last N bytes
                start, end = max(0, size - int(match.group(2))), size - 1
            end = min(end, size - 1)
            if start >= size:
                raise HubError(416, "range not satisfiable")
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            data, status = data[start : end + 1], 206
        self._send(status, data, headers, head=head)


def validate_metadata(content: str, repo_type: str) -> list[str]:
    """The checks the Hub applies to README metadata that our cards use (a subset of the Hub's schema)."""
    import yaml

    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.S)
    if not match:
        return []
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as err:
        return [f"YAML does not parse: {err}"]
    if not isinstance(meta, dict):
        return ["metadata must be a YAML mapping"]
    errors = []
    hub_id = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
    for key in ("base_model", "datasets", "tags", "language"):
        values = meta.get(key)
        values = [values] if isinstance(values, str) else values
        if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
            errors.append(f'"{key}" must be a string or a list of strings')
        elif key in ("base_model", "datasets") and values and not all(hub_id.match(v) for v in values):
            errors.append(f'"{key}" must hold repo ids, got {values}')
    if "license" in meta and not isinstance(meta["license"], (str, list)):
        errors.append('"license" must be a string')
    if repo_type == "model" and "model-index" in meta:
        index = meta["model-index"]
        if not isinstance(index, list) or not index:
            errors.append('"model-index" must be a non-empty list')
        for model in index if isinstance(index, list) else []:
            if not isinstance(model.get("name"), str):
                errors.append('"model-index[].name" is required')
            if not model.get("results"):
                errors.append('"model-index[].results" is required')
            for result in model.get("results") or []:
                if not isinstance((result.get("task") or {}).get("type"), str):
                    errors.append('"model-index[].results[].task.type" is required')
                dataset = result.get("dataset") or {}
                if not (isinstance(dataset.get("name"), str) and isinstance(dataset.get("type"), str)):
                    errors.append('"model-index[].results[].dataset" needs "name" and "type"')
                metrics = result.get("metrics") or []
                if not metrics or not all(isinstance(m.get("type"), str) and "value" in m for m in metrics):
                    errors.append('"model-index[].results[].metrics" needs entries with "type" and "value"')
    if repo_type == "dataset" and "configs" in meta:
        configs = meta["configs"]
        names = [c.get("config_name") for c in configs] if isinstance(configs, list) else []
        if not isinstance(configs, list) or not all(isinstance(n, str) for n in names):
            errors.append('"configs" must be a list of mappings with a "config_name"')
        elif len(set(names)) != len(names):
            errors.append('"configs[].config_name" must be unique')
        elif sum(bool(c.get("default")) for c in configs) > 1:
            errors.append('at most one config can be "default"')
        for c in configs if isinstance(configs, list) else []:
            if "data_files" not in c:
                errors.append(f'config "{c.get("config_name")}" has no "data_files"')
    return errors


def _type_of(prefix: str | None) -> str:
    return {"datasets/": "dataset", "spaces/": "space"}.get(prefix or "", "model")


class HubServer(ThreadingHTTPServer):
    """The server; ``start()`` serves in a daemon thread, ``url`` is the value for ``HF_ENDPOINT``."""

    daemon_threads = True

    def __init__(self, port: int = 0, tokens: dict[str, str] | None = None):
        super().__init__(("127.0.0.1", port), Handler)
        self.state = HubState(tokens)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def repo_files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        """Every stored file of a repo (LFS content resolved), for assertions."""
        repo = self.state.repos[(repo_type, repo_id)]
        return {p: e.data for p, e in repo.files.items()}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Serve a local, in-memory Hugging Face Hub for tests and demos.")
    parser.add_argument("--port", type=int, default=8999)
    args = parser.parse_args()
    server = HubServer(args.port)
    token = next(iter(server.state.tokens))
    print(f"HF_ENDPOINT={server.url} HF_HUB_DISABLE_XET=1 HF_TOKEN={token}  (user: {server.state.tokens[token]})")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
