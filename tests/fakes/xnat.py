"""A fake XNAT server: the ``/data`` REST API with JSON result sets, logins and files.

It answers in the documented shapes (XNAT REST API, "User Session Management API",
"User Alias Token API"):

- listings with ``format=json`` -> ``{"ResultSet": {"Result": [...], "totalRecords": "N",
  "title": ...}}``, every value a string; without ``format=json`` an HTML page (as a
  browser gets);
- ``GET /data/projects`` (rows ``ID``, ``secondary_ID``, ``name``, ``description``,
  ``pi_firstname``, ``pi_lastname``, ``URI``), ``/data/projects/{p}`` (``{"items":
  [{"meta", "data_fields", "children"}]}``), ``/data/projects/{p}/subjects``,
  ``/data/projects/{p}/experiments`` (``xsiType`` ``xnat:mrSessionData``...),
  ``/data/experiments/{e}/scans``, ``/data/experiments/{e}/scans/{s}/resources``,
  ``.../resources/{label}/files`` (rows ``Name``, ``Size``, ``URI``; ``format=zip`` a zip
  of the resource) and ``.../files/{name}`` (the file);
- ``POST /data/JSESSION`` with basic auth -> the session id as text (and the
  ``JSESSIONID`` cookie); 401 for bad credentials;
- ``GET /data/services/tokens/issue`` (logged in) -> ``{"alias", "secret", ...}``, usable
  as basic-auth user and password;
- access: anonymous users see public projects only (private ones: absent from listings,
  403 when named); protected projects are listed and described to everyone, but their
  subjects, sessions and files answer 403 to non-members; ``require_login=True`` answers
  401 to every anonymous request;
- moves: with ``redirect_reads=True`` every GET under ``/data`` answers 302 to the same
  path and query under ``MOVED`` (``/xnat/data/...``), where the API is served too (a
  proxy that moved the application and redirects old links); a POST is served in place.
  `FakeFront` is a front (an http site sending everyone to https) on another port.

Images are synthetic DICOM series and NIfTI volumes from `fakes.medical`, with its made-up
patient data. Faults come from `FakeService.inject`.
"""

from __future__ import annotations

import base64
import io
import secrets
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from fakes.medical import DicomSeries, NiftiVolume, make_uid, write_dicom_series, write_nifti
from fakes.service import FakeService, json_error

__all__ = ["MOVED", "FakeFront", "FakeXNAT", "XNATExperiment", "XNATProject", "XNATScan", "seed"]

USERS = {"alice": "wonderland"}
MOVED = "/xnat"  # where ``redirect_reads`` sends GET requests


@dataclass
class XNATScan:
    id: str
    type: str
    xsi_type: str
    description: str
    resources: dict[str, list[Path]] = field(default_factory=dict)  # label -> files
    dicom: DicomSeries | None = None
    nifti: NiftiVolume | None = None


@dataclass
class XNATExperiment:
    id: str
    label: str
    subject: str
    xsi_type: str
    date: str
    scans: list[XNATScan] = field(default_factory=list)


@dataclass
class XNATProject:
    id: str
    name: str
    description: str
    keywords: str = ""
    pi: tuple[str, str] = ("", "")  # first, last
    public: bool = True
    protected: bool = False  # listed and described to everyone, its data to members only
    members: frozenset[str] = frozenset()
    subjects: list[str] = field(default_factory=list)
    experiments: list[XNATExperiment] = field(default_factory=list)


def _dicom_scan(root: Path, scan_id: str, modality: str, description: str, **kw: Any) -> XNATScan:
    folder = root / scan_id / "DICOM"
    series = write_dicom_series(
        folder,
        modality=modality,
        description=description,
        series_uid=make_uid("xnat", root.name, scan_id),
        **kw,
    )
    xsi = {"MR": "xnat:mrScanData", "CT": "xnat:ctScanData"}[modality]
    return XNATScan(scan_id, description, xsi, description, {"DICOM": series.files}, dicom=series)


def seed(root: Path) -> list[XNATProject]:
    """A public brain MRI project (DICOM + NIfTI), a public CT one and a private MR one."""
    brain_session = root / "BRAIN_E1"
    t1 = _dicom_scan(brain_session, "1", "MR", "T1w MPRAGE", n_slices=6, seed=1)
    flair = _dicom_scan(brain_session, "2", "MR", "FLAIR", n_slices=4, seed=2)
    nifti = write_nifti(brain_session / "2" / "NIFTI" / "flair.nii.gz", shape=(4, 10, 12))
    flair.resources["NIFTI"] = [nifti.path]
    flair.nifti = nifti
    snapshot = brain_session / "1" / "SNAPSHOTS" / "t1_qc.gif"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    t1.resources["SNAPSHOTS"] = [snapshot]
    brain = XNATProject(
        "BRAINMR",
        "Brain MRI of healthy volunteers",
        "Structural T1-weighted and FLAIR brain MRI of healthy adult volunteers.",
        keywords="brain neuroimaging volunteers",
        pi=("Ada", "Lovelace"),
        subjects=["BRAINMR_S01"],
        experiments=[
            XNATExperiment(
                "XNAT_E00001",
                "S01_MR1",
                "BRAINMR_S01",
                "xnat:mrSessionData",
                "2024-01-15",
                [t1, flair],
            ),
        ],
    )
    chest = XNATProject(
        "CHESTCT",
        "Low-dose chest CT",
        "Low-dose thoracic CT for lung nodule screening research.",
        keywords="lung CT screening",
        pi=("Grace", "Hopper"),
        subjects=["CHESTCT_S01", "CHESTCT_S02"],
        experiments=[
            XNATExperiment(
                "XNAT_E00002",
                "S01_CT1",
                "CHESTCT_S01",
                "xnat:ctSessionData",
                "2024-02-01",
                [_dicom_scan(root / "CHEST_E2", "3", "CT", "Chest 1.25mm", n_slices=5, seed=3)],
            ),
        ],
    )
    private = XNATProject(
        "PRIVMR",
        "Private knee MRI",
        "Knee MRI of a closed clinical study.",
        public=False,
        members=frozenset({"alice"}),
        subjects=["PRIVMR_S01"],
        experiments=[
            XNATExperiment(
                "XNAT_E00003",
                "K01_MR1",
                "PRIVMR_S01",
                "xnat:mrSessionData",
                "2024-03-01",
                [_dicom_scan(root / "PRIV_E3", "1", "MR", "PD knee", n_slices=3, seed=4)],
            ),
        ],
    )
    return [brain, chest, private]


def _result_set(rows: list[dict[str, Any]], title: str) -> web.Response:
    text_rows = [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]
    return web.json_response(
        {"ResultSet": {"Result": text_rows, "totalRecords": str(len(rows)), "title": title}}
    )


class FakeXNAT(FakeService):
    """An XNAT server on 127.0.0.1 with users, alias tokens, sessions and file downloads."""

    name = "fake XNAT"

    def __init__(
        self, projects: list[XNATProject], *, require_login: bool = False, port: int = 0
    ) -> None:
        super().__init__(port=port)
        self.projects = {p.id: p for p in projects}
        self.require_login = require_login
        self.users = dict(USERS)
        self.sessions: dict[str, str] = {}  # JSESSIONID -> user
        self.tokens: dict[str, tuple[str, str]] = {}  # alias -> (secret, user)
        self.logins = 0
        self.redirect_reads = False

    # -- auth -----------------------------------------------------------------------------------

    def issue_token(self, user: str) -> tuple[str, str]:
        alias, secret = secrets.token_hex(8), secrets.token_hex(16)
        self.tokens[alias] = (secret, user)
        return alias, secret

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def _basic_user(self, request: web.Request) -> str | bool | None:
        """The user of a valid basic-auth header; False for a wrong one; None for none."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        if self.users.get(user) == password:
            return user
        token = self.tokens.get(user)
        if token is not None and token[0] == password:
            return token[1]
        return False

    def _user(self, request: web.Request) -> str | None:
        """The requesting user, None when anonymous; 401 for bad credentials or sessions."""
        basic = self._basic_user(request)
        if basic is False:
            raise _unauthorized("Login attempt failed. Please try again.")
        if isinstance(basic, str):
            return basic
        cookie = request.cookies.get("JSESSIONID")
        if cookie is not None:
            user = self.sessions.get(cookie)
            if user is None:
                raise _unauthorized("Your session has expired")
            return user
        if self.require_login:
            raise _unauthorized("Authentication required")
        return None

    def _project(
        self, request: web.Request, user: str | None, *, metadata: bool = False
    ) -> XNATProject:
        project = self.projects.get(request.match_info["project"])
        if project is None:
            raise web.HTTPNotFound(text="Unable to find the specified project.")
        if not (project.public or user in project.members or (metadata and project.protected)):
            raise web.HTTPForbidden(text="Specified user account has insufficient privileges")
        return project

    def _experiment(self, request: web.Request, user: str | None) -> tuple[XNATProject, Any]:
        for project in self.projects.values():
            for experiment in project.experiments:
                if experiment.id == request.match_info["experiment"]:
                    if not (project.public or user in project.members):
                        raise web.HTTPForbidden(text="insufficient privileges")
                    return project, experiment
        raise web.HTTPNotFound(text="Unable to find the specified experiment.")

    def _scan(self, request: web.Request, user: str | None) -> tuple[Any, XNATScan]:
        _, experiment = self._experiment(request, user)
        for scan in experiment.scans:
            if scan.id == request.match_info["scan"]:
                return experiment, scan
        raise web.HTTPNotFound(text="Unable to find the specified scan.")

    # -- routes ---------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        app.middlewares.append(self._moves)
        for root in ("/data", f"{MOVED}/data"):
            app.router.add_post(f"{root}/JSESSION", self._jsession)
            app.router.add_get(f"{root}/services/tokens/issue", self._issue)
            app.router.add_get(f"{root}/projects", self._projects)
            app.router.add_get(f"{root}/projects/{{project}}", self._project_detail)
            app.router.add_get(f"{root}/projects/{{project}}/subjects", self._subjects)
            app.router.add_get(f"{root}/projects/{{project}}/experiments", self._experiments)
            scans = f"{root}/experiments/{{experiment}}/scans"
            app.router.add_get(scans, self._scans)
            app.router.add_get(scans + "/{scan}/resources", self._resources)
            app.router.add_get(scans + "/{scan}/resources/{resource}/files", self._files)
            app.router.add_get(scans + "/{scan}/resources/{resource}/files/{name}", self._file)

    @web.middleware
    async def _moves(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.redirect_reads and request.method == "GET" and request.path.startswith("/data/"):
            raise web.HTTPFound(MOVED + request.path_qs)
        return await handler(request)

    async def _jsession(self, request: web.Request) -> web.Response:
        user = self._basic_user(request)
        if not isinstance(user, str):
            return web.Response(status=401, text="Login attempt failed. Please try again.")
        self.logins += 1
        session = secrets.token_hex(16).upper()
        self.sessions[session] = user
        response = web.Response(text=session, content_type="text/plain")
        response.set_cookie("JSESSIONID", session, httponly=True)
        return response

    async def _issue(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if user is None:
            return web.Response(status=401, text="Authentication required")
        alias, secret = self.issue_token(user)
        return web.json_response(
            {
                "alias": alias,
                "secret": secret,
                "xdatUserId": user,
                "singleUse": False,
                "enabled": True,
                "estimatedExpirationTime": 0,
                "timestamp": 0,
                "created": 0,
                "id": len(self.tokens),
                "disabled": 0,
            }
        )

    async def _projects(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if request.query.get("format") != "json":
            return _html()
        rows = [
            {
                "ID": p.id,
                "secondary_ID": p.id,
                "name": p.name,
                "description": p.description,
                "pi_firstname": p.pi[0],
                "pi_lastname": p.pi[1],
                "URI": f"/data/projects/{p.id}",
            }
            for p in self.projects.values()
            if p.public or p.protected or user in p.members
        ]
        return _result_set(rows, "Projects")

    async def _project_detail(self, request: web.Request) -> web.Response:
        project = self._project(request, self._user(request), metadata=True)
        if request.query.get("format") != "json":
            return _html()
        fields = {
            "ID": project.id,
            "secondary_ID": project.id,
            "name": project.name,
            "description": project.description,
            "keywords": project.keywords,
            "active": "true",
        }
        pi = {
            "children": [],
            "meta": {"create_event_id": 2, "xsi:type": "xnat:investigatorData"},
            "data_fields": {"firstname": project.pi[0], "lastname": project.pi[1]},
        }
        item = {
            "children": [{"field": "PI", "items": [pi]}] if any(project.pi) else [],
            "meta": {"create_event_id": 1, "xsi:type": "xnat:projectData", "isHistory": False},
            "data_fields": fields,
        }
        return web.json_response({"items": [item]})

    async def _subjects(self, request: web.Request) -> web.Response:
        project = self._project(request, self._user(request))
        if request.query.get("format") != "json":
            return _html()
        rows = [
            {
                "ID": s,
                "label": s.split("_")[-1],
                "project": project.id,
                "insert_date": "2024-01-01 10:00:00.0",
                "insert_user": "admin",
                "URI": f"/data/subjects/{s}",
            }
            for s in project.subjects
        ]
        return _result_set(rows, "Subjects")

    async def _experiments(self, request: web.Request) -> web.Response:
        project = self._project(request, self._user(request))
        if request.query.get("format") != "json":
            return _html()
        rows = [
            {
                "ID": e.id,
                "label": e.label,
                "project": project.id,
                "xsiType": e.xsi_type,
                "date": e.date,
                "insert_date": "2024-01-01 10:00:00.0",
                "URI": f"/data/experiments/{e.id}",
            }
            for e in project.experiments
        ]
        return _result_set(rows, "Experiments")

    async def _scans(self, request: web.Request) -> web.Response:
        _, experiment = self._experiment(request, self._user(request))
        if request.query.get("format") != "json":
            return _html()
        rows = [
            {
                "xnat_imagescandata_id": str(100 + i),
                "ID": s.id,
                "type": s.type,
                "series_description": s.description,
                "quality": "usable",
                "xsiType": s.xsi_type,
                "note": "",
                "URI": f"/data/experiments/{experiment.id}/scans/{s.id}",
            }
            for i, s in enumerate(experiment.scans)
        ]
        return _result_set(rows, "Scans")

    async def _resources(self, request: web.Request) -> web.Response:
        _, scan = self._scan(request, self._user(request))
        if request.query.get("format") != "json":
            return _html()
        rows = []
        for i, (label, files) in enumerate(scan.resources.items()):
            fmt = {"DICOM": "DICOM", "NIFTI": "NIFTI"}.get(label, "GIF")
            rows.append(
                {
                    "xnat_abstractresource_id": str(500 + i),
                    "label": label,
                    "element_name": "xnat:resourceCatalog",
                    "category": "scans",
                    "cat_id": scan.id,
                    "cat_desc": scan.description,
                    "format": fmt,
                    "file_count": len(files),
                    "file_size": sum(f.stat().st_size for f in files),
                    "content": "RAW" if label == "DICOM" else "",
                    "tags": "",
                }
            )
        return _result_set(rows, "Resources")

    def _resource_files(self, request: web.Request) -> tuple[Any, XNATScan, str, list[Path]]:
        experiment, scan = self._scan(request, self._user(request))
        label = request.match_info["resource"]
        if label not in scan.resources:
            raise web.HTTPNotFound(text="Unable to find the specified resource.")
        return experiment, scan, label, sorted(scan.resources[label])

    async def _files(self, request: web.Request) -> web.Response:
        experiment, scan, label, files = self._resource_files(request)
        base = f"/data/experiments/{experiment.id}/scans/{scan.id}/resources/{label}/files"
        if request.query.get("format") == "zip":
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zf:
                for path in files:
                    where = f"{experiment.label}/scans/{scan.id}-{scan.type}/resources/{label}"
                    zf.write(path, f"{where}/files/{path.name}")
            return web.Response(body=buffer.getvalue(), content_type="application/zip")
        if request.query.get("format") != "json":
            return _html()
        rows = [
            {
                "Name": f.name,
                "Size": f.stat().st_size,
                "URI": f"{base}/{f.name}",
                "collection": label,
                "file_tags": "",
                "file_format": "",
                "file_content": "",
                "cat_ID": "500",
                "digest": "",
            }
            for f in files
        ]
        return _result_set(rows, "Files")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        _, _, _, files = self._resource_files(request)
        for path in files:
            if path.name == request.match_info["name"]:
                return web.FileResponse(path)
        return json_error(404, "no such file")


class FakeFront(FakeService):
    """A front on 127.0.0.1 that answers every request 301 to the same path at ``target``.

    Like an http site that sends everyone to its https address: same host, other port.
    """

    name = "fake XNAT front"

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target.rstrip("/")

    def setup(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._redirect)

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(self.target + request.path_qs)


def _html() -> web.Response:
    """What XNAT sends a browser that did not ask for ``format=json``."""
    return web.Response(text="<html><body>XNAT</body></html>", content_type="text/html")


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(text=message, headers={"WWW-Authenticate": 'Basic realm="XNAT"'})
