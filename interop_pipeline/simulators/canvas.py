"""Simulated Canvas LMS REST API serving the district's Canvas courses (simulators/lms.py).

Faithful where a connector could go wrong: bearer tokens that expire (401 with
WWW-Authenticate), `per_page` (default 10, capped at 100) with a `Link` header of absolute,
opaque bookmark URLs (rel current/next/first; no `last`, as for bookmarked collections),
`X-Request-Cost` and `X-Rate-Limit-Remaining` on every answer and throttling answered as Canvas
does: 403 with the text body "403 Forbidden (Rate Limit Exceeded)". Enrollment lists return only
active and invited enrollments unless `state[]` asks for more; submissions take `submitted_since`
and `graded_since`.

Real Canvas hands out API tokens from developer keys (or the OAuth2 authorization-code flow with
refresh tokens). The simulator issues them at `/login/oauth2/token` by the client-credentials
grant, so a token that expires mid-walk is renewed the same way for every system.
"""

from __future__ import annotations

import base64
import json
import time
from email.utils import formatdate
from urllib.parse import urlencode

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from interop_pipeline.config import DistrictConfig
from interop_pipeline.simulators.http_server import Faults, Request, Response, SimulatedApi, int_arg
from interop_pipeline.simulators.lms import (
    LMS_TABLES,
    KeyedRows,
    epoch_seconds,
    int_column,
    lms_truth,
    object_column,
    rows_in_lms,
)

ROOT_ACCOUNT_ID = 1
DEFAULT_PER_PAGE, MAX_PER_PAGE = 10, 100
DEFAULT_ENROLLMENT_STATES = ("active", "invited")
ENROLLMENT_TYPES = {"student": ("StudentEnrollment", 3), "teacher": ("TeacherEnrollment", 4)}
BUCKET_CAPACITY = 700.0


def iso(seconds: int) -> str | None:
    return None if seconds < 0 else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def parse_time(value: str) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise ValueError(f"invalid datetime: {value}") from None


class CanvasApi(SimulatedApi):
    system = "Canvas"
    token_path = "/login/oauth2/token"

    def __init__(
        self,
        truth: dict[str, pa.Table],
        *,
        clients: dict[str, str] | None = None,
        faults: Faults | None = None,
        port: int = 0,
        token_ttl_seconds: int = 3600,
        leak_per_second: float = 1_000.0,
        bucket_capacity: float = BUCKET_CAPACITY,
    ):
        super().__init__(clients=clients, faults=faults, port=port, token_ttl_seconds=token_ttl_seconds)
        self._load(truth)
        # Leaky bucket: each request adds its cost, the bucket drains at leak_per_second; a full
        # bucket is a throttle. Real Canvas drains about 10 units a second; the default here keeps
        # demo walks fast while the headers still move.
        self.leak_per_second, self.bucket_capacity = leak_per_second, bucket_capacity
        self._bucket, self._bucket_at = 0.0, time.monotonic()
        self.changed: list[int] = []  # submission ids changed by the `change_every` fault
        base = r"/api/v1"
        self.route("GET", base + r"/accounts/(?P<account>\d+)/courses", self._courses)
        self.route("GET", base + r"/accounts/(?P<account>\d+)/users", self._users)
        self.route("GET", base + r"/courses/(?P<course>\d+)/sections", self._sections)
        self.route("GET", base + r"/courses/(?P<course>\d+)/enrollments", self._enrollments)
        self.route("GET", base + r"/courses/(?P<course>\d+)/assignments", self._assignments)
        self.route("GET", base + r"/courses/(?P<course>\d+)/students/submissions", self._submissions)

    def start(self) -> CanvasApi:
        super().start()
        # The Date header tells the simulated clock, the one change timestamps are taken from.
        api = self
        handler = self._server.RequestHandlerClass
        handler.date_time_string = lambda _handler, timestamp=None: formatdate(api.clock, usegmt=True)
        return self

    # -- data -------------------------------------------------------------------------------
    def _load(self, truth: dict[str, pa.Table]) -> None:
        courses = rows_in_lms(truth["lms_courses"], "canvas")
        schools = truth["schools"]
        school_account = {sid: ROOT_ACCOUNT_ID + 1 + i for i, sid in enumerate(schools["sourced_id"].to_pylist())}
        course_ids = int_column(courses, "lms_course_id")
        self.courses = KeyedRows(
            {
                "id": course_ids,
                "sis_course_id": object_column(courses, "section_sourced_id"),
                "name": object_column(courses, "name"),
                "course_code": object_column(courses, "course_code"),
                "account_id": np.array([school_account[s] for s in courses["school_sourced_id"].to_pylist()]),
                "created_at": epoch_seconds(courses["created_at"]),
                "start_at": epoch_seconds(courses["start_at"]),
                "end_at": epoch_seconds(courses["end_at"]),
                "workflow_state": np.full(len(course_ids), "available", dtype=object),
            },
            key="id",
        )
        # One Canvas section per course, carrying the SIS section id.
        self.sections = KeyedRows(
            {
                "id": course_ids + 9_000,
                "course_id": course_ids,
                "name": object_column(courses, "name"),
                "sis_section_id": object_column(courses, "section_sourced_id"),
                "start_at": epoch_seconds(courses["start_at"]),
                "end_at": epoch_seconds(courses["end_at"]),
            },
            key="id",
            group="course_id",
        )
        users = rows_in_lms(truth["lms_users"], "canvas")
        first, last = object_column(users, "first_name"), object_column(users, "last_name")
        self.users = KeyedRows(
            {
                "id": int_column(users, "lms_user_id"),
                "first_name": first,
                "last_name": last,
                "sis_user_id": object_column(users, "sis_user_id"),
                "login_id": object_column(users, "login_id"),
                "created_at": np.full(len(users), int(self.courses.columns["created_at"].min()), dtype=np.int64),
            },
            key="id",
        )
        enrollments = rows_in_lms(truth["lms_enrollments"], "canvas")
        begin = pc.cast(enrollments["begin_date"], pa.timestamp("s", "UTC"))
        end = pc.cast(enrollments["end_date"], pa.timestamp("s", "UTC"))
        score = enrollments["current_score"].to_numpy(zero_copy_only=False).astype(float)
        final = enrollments["final_score"].to_numpy(zero_copy_only=False).astype(float)
        self.enrollments = KeyedRows(
            {
                "id": int_column(enrollments, "lms_enrollment_id"),
                "course_id": int_column(enrollments, "lms_course_id"),
                "user_id": int_column(enrollments, "lms_user_id"),
                "role": object_column(enrollments, "role"),
                "state": object_column(enrollments, "state"),
                "created_at": epoch_seconds(begin),
                "updated_at": np.maximum(epoch_seconds(begin), epoch_seconds(end)),
                "current_score": score,
                "current_grade": object_column(enrollments, "current_grade"),
                "final_score": final,
                "final_grade": object_column(enrollments, "final_grade"),
            },
            key="id",
            group="course_id",
        )
        assignments = rows_in_lms(truth["lms_assignments"], "canvas")
        self.assignments = KeyedRows(
            {
                "id": int_column(assignments, "lms_assignment_id"),
                "course_id": int_column(assignments, "lms_course_id"),
                "name": object_column(assignments, "title"),
                "position": int_column(assignments, "position"),
                "points_possible": assignments["points_possible"].to_numpy().astype(float),
                "created_at": epoch_seconds(assignments["created_at"]),
                "due_at": epoch_seconds(assignments["due_at"]),
            },
            key="id",
            group="course_id",
        )
        submissions = rows_in_lms(truth["lms_submissions"], "canvas")
        enrollment_ids = self.enrollments.columns["id"]
        order = np.argsort(enrollment_ids)
        enrollment_of = order[np.searchsorted(enrollment_ids[order], int_column(submissions, "lms_enrollment_id"))]
        self.submissions = KeyedRows(
            {
                "enrollment_pos": enrollment_of.astype(np.int64),
                "id": int_column(submissions, "lms_submission_id"),
                "course_id": int_column(submissions, "lms_course_id"),
                "assignment_id": int_column(submissions, "lms_assignment_id"),
                "enrollment_id": int_column(submissions, "lms_enrollment_id"),
                "user_id": int_column(submissions, "lms_user_id"),
                "state": object_column(submissions, "state"),
                "submitted_at": epoch_seconds(submissions["submitted_at"]),
                "graded_at": epoch_seconds(submissions["graded_at"]),
                "score": submissions["score"].to_numpy(zero_copy_only=False).astype(float),
                "late": submissions["late"].to_numpy(zero_copy_only=False).astype(bool),
                "missing": submissions["missing"].to_numpy(zero_copy_only=False).astype(bool),
                "seconds_late": int_column(submissions, "seconds_late"),
            },
            key="id",
            group="course_id",
        )
        latest = max(
            int(self.submissions.columns["submitted_at"].max(initial=0)),
            int(self.submissions.columns["graded_at"].max(initial=0)),
        )
        self.clock = latest + 86_400  # changes made later happen after everything generated

    # -- how Canvas words things --------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        return Response(status, {"errors": [{"message": message}]})

    def unauthorized(self) -> Response:
        response = Response(401, {"errors": [{"message": "Invalid access token."}], "status": "unauthenticated"})
        response.headers["WWW-Authenticate"] = 'Bearer realm="canvas-lms"'
        return response

    def throttled(self) -> Response:
        return Response(
            403,
            "403 Forbidden (Rate Limit Exceeded)\n",
            headers={"X-Rate-Limit-Remaining": "0.0"},
            content_type="text/plain; charset=utf-8",
        )

    def handle(self, request: Request) -> tuple[Response, str | None]:
        cost = 1.0
        with self._lock:
            now = time.monotonic()
            self._bucket = max(0.0, self._bucket - (now - self._bucket_at) * self.leak_per_second)
            self._bucket_at = now
            over = self._bucket + cost > self.bucket_capacity
            if not over:
                self._bucket += cost
            remaining = self.bucket_capacity - self._bucket
        if over and request.path.startswith("/api/"):
            response, fault = self.throttled(), None
        else:
            response, fault = super().handle(request)
        response.headers.setdefault("X-Request-Cost", f"{cost:.4f}")
        response.headers.setdefault("X-Rate-Limit-Remaining", f"{remaining:.1f}")
        return response, fault

    def on_change(self) -> None:
        """A teacher grades (or regrades) the next submitted piece of work, between pages."""
        cols = self.submissions.columns
        candidates = np.flatnonzero(cols["submitted_at"] >= 0)
        if len(candidates) == 0:
            return
        position = int(candidates[(len(self.changed) * 7919) % len(candidates)])
        self.grade(int(cols["id"][position]), score=None)
        self.changed.append(int(cols["id"][position]))

    # -- changes, for tests and the change fault ----------------------------------------------
    def tick(self) -> int:
        with self._lock:
            self.clock += 1
            return self.clock

    def grade(self, submission_id: int, score: float | None = None) -> None:
        cols = self.submissions.columns
        i = self.submissions.position(submission_id)
        points = self.assignments.columns["points_possible"][self.assignments.position(int(cols["assignment_id"][i]))]
        cols["score"][i] = score if score is not None else float(points) - float(cols["id"][i] % 5)
        cols["state"][i] = "graded"
        cols["graded_at"][i] = self.tick()

    def submit(self, submission_id: int) -> None:
        cols = self.submissions.columns
        i = self.submissions.position(submission_id)
        cols["submitted_at"][i] = self.tick()
        cols["state"][i], cols["missing"][i] = "submitted", False

    def delete_enrollment(self, enrollment_id: int) -> None:
        cols = self.enrollments.columns
        i = self.enrollments.position(enrollment_id)
        cols["state"][i], cols["updated_at"][i] = "deleted", self.tick()

    def add_assignment(self, course_id: int, name: str, points: float) -> tuple[int, list[int]]:
        """A new assignment with an unsubmitted submission per active student of the course."""
        a = self.assignments.columns
        assignment_id = int(a["id"].max()) + 1
        now = self.tick()
        self.assignments.append(
            {
                "id": [assignment_id],
                "course_id": [course_id],
                "name": [name],
                "position": [int(a["position"][a["course_id"] == course_id].max(initial=0)) + 1],
                "points_possible": [points],
                "created_at": [now],
                "due_at": [now + 7 * 86_400],
            }
        )
        e = self.enrollments.columns
        students = np.flatnonzero((e["course_id"] == course_id) & (e["role"] == "student") & (e["state"] == "active"))
        first_id = int(self.submissions.columns["id"].max()) + 1
        ids = list(range(first_id, first_id + len(students)))
        n = len(ids)
        self.submissions.append(
            {
                "id": ids,
                "course_id": [course_id] * n,
                "assignment_id": [assignment_id] * n,
                "enrollment_pos": students,
                "enrollment_id": e["id"][students],
                "user_id": e["user_id"][students],
                "state": ["unsubmitted"] * n,
                "submitted_at": [-1] * n,
                "graded_at": [-1] * n,
                "score": [np.nan] * n,
                "late": [False] * n,
                "missing": [False] * n,
                "seconds_late": [0] * n,
            }
        )
        return assignment_id, ids

    # -- paging -------------------------------------------------------------------------------
    def _page(self, request: Request, rows: KeyedRows, group, render, keep=None) -> Response:
        per_page = int_arg(request, "per_page", DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE)
        after = _bookmark(request.arg("page"))
        positions, more = rows.page(group, after, per_page, keep)
        body = [render(int(i)) for i in positions]
        links = [("current", request.arg("page")), ("first", None)]
        if more:
            links.append(("next", _encode_bookmark(int(rows.columns[rows.key][positions[-1]]))))
        headers = {"Link": ",".join(f'<{self._url(request, page)}>; rel="{rel}"' for rel, page in links)}
        return Response(200, body, headers=headers)

    def _url(self, request: Request, page: str | None) -> str:
        query = [(k, v) for k, values in request.query.items() if k != "page" for v in values]
        query.append(("page", page or "first"))
        return f"{self.base_url}{request.path}?{urlencode(query)}"

    def _course(self, request: Request) -> int:
        course_id = int(request.match["course"])
        if course_id not in self.courses._position:
            raise LookupError
        return course_id

    def _call(self, handler, request: Request) -> Response:
        try:
            return super()._call(handler, request)
        except LookupError:
            return self.error(404, "The specified resource does not exist.")

    def _account(self, request: Request) -> None:
        if int(request.match["account"]) != ROOT_ACCOUNT_ID:
            raise LookupError

    # -- records as the API renders them -------------------------------------------------------
    def render_course(self, i: int) -> dict:
        c = self.courses.columns
        return {
            "id": int(c["id"][i]),
            "sis_course_id": c["sis_course_id"][i],
            "integration_id": None,
            "name": c["name"][i],
            "course_code": c["course_code"][i],
            "workflow_state": c["workflow_state"][i],
            "account_id": int(c["account_id"][i]),
            "root_account_id": ROOT_ACCOUNT_ID,
            "enrollment_term_id": 1,
            "created_at": iso(c["created_at"][i]),
            "start_at": iso(c["start_at"][i]),
            "end_at": iso(c["end_at"][i]),
            "default_view": "modules",
            "is_public": False,
            "time_zone": "America/Los_Angeles",
        }

    def _names(self, user: int) -> dict:
        u = self.users.columns
        first, last = u["first_name"][user] or "", u["last_name"][user] or ""
        return {
            "name": f"{first} {last}".strip(),
            "sortable_name": f"{last}, {first}".strip(", "),
            "short_name": first or last,
        }

    def render_user(self, i: int) -> dict:
        u = self.users.columns
        return {
            "id": int(u["id"][i]),
            **self._names(i),
            "created_at": iso(u["created_at"][i]),
            "sis_user_id": u["sis_user_id"][i],
            "integration_id": None,
            "sis_import_id": 1 if u["sis_user_id"][i] else None,
            "login_id": u["login_id"][i],
        }

    def render_section(self, i: int) -> dict:
        s = self.sections.columns
        course = self.courses.position(int(s["course_id"][i]))
        return {
            "id": int(s["id"][i]),
            "course_id": int(s["course_id"][i]),
            "name": s["name"][i],
            "sis_section_id": s["sis_section_id"][i],
            "sis_course_id": self.courses.columns["sis_course_id"][course],
            "integration_id": None,
            "start_at": iso(s["start_at"][i]),
            "end_at": iso(s["end_at"][i]),
            "restrict_enrollments_to_section_dates": False,
            "nonxlist_course_id": None,
        }

    def render_enrollment(self, i: int) -> dict:
        e, u = self.enrollments.columns, self.users.columns
        course_id = int(e["course_id"][i])
        sis_course_id = self.courses.columns["sis_course_id"][self.courses.position(course_id)]
        user = self.users.position(int(e["user_id"][i]))
        kind, role_id = ENROLLMENT_TYPES[e["role"][i]]
        record = {
            "id": int(e["id"][i]),
            "user_id": int(e["user_id"][i]),
            "course_id": course_id,
            "course_section_id": course_id + 9_000,
            "sis_course_id": sis_course_id,
            "sis_section_id": sis_course_id,
            "sis_user_id": u["sis_user_id"][user],
            "type": kind,
            "role": kind,
            "role_id": role_id,
            "enrollment_state": e["state"][i],
            "created_at": iso(e["created_at"][i]),
            "updated_at": iso(e["updated_at"][i]),
            "start_at": None,
            "end_at": None,
            "last_activity_at": None,
            "total_activity_time": 0,
            "limit_privileges_to_course_section": False,
            "root_account_id": ROOT_ACCOUNT_ID,
            "user": {
                "id": int(e["user_id"][i]),
                **self._names(user),
                "sis_user_id": u["sis_user_id"][user],
                "login_id": u["login_id"][user],
            },
        }
        if e["role"][i] == "student":
            record["grades"] = {
                "current_score": _number(e["current_score"][i]),
                "current_grade": e["current_grade"][i],
                "final_score": _number(e["final_score"][i]),
                "final_grade": e["final_grade"][i],
                "unposted_current_score": _number(e["current_score"][i]),
                "unposted_final_score": _number(e["final_score"][i]),
            }
        return record

    def render_assignment(self, i: int) -> dict:
        a = self.assignments.columns
        return {
            "id": int(a["id"][i]),
            "course_id": int(a["course_id"][i]),
            "name": a["name"][i],
            "description": None,
            "position": int(a["position"][i]),
            "points_possible": float(a["points_possible"][i]),
            "grading_type": "points",
            "submission_types": ["online_upload"],
            "created_at": iso(a["created_at"][i]),
            "updated_at": iso(a["created_at"][i]),
            "due_at": iso(a["due_at"][i]),
            "lock_at": None,
            "unlock_at": None,
            "published": True,
            "workflow_state": "published",
        }

    def render_submission(self, i: int) -> dict:
        s = self.submissions.columns
        graded = s["state"][i] == "graded"
        score = float(s["score"][i]) if graded else None
        due = self.assignments.columns["due_at"][self.assignments.position(int(s["assignment_id"][i]))]
        submitted = s["submitted_at"][i] >= 0
        return {
            "id": int(s["id"][i]),
            "assignment_id": int(s["assignment_id"][i]),
            "user_id": int(s["user_id"][i]),
            "attempt": 1 if submitted else None,
            "score": score,
            "grade": _grade_text(score),
            "entered_score": score,
            "entered_grade": _grade_text(score),
            "submitted_at": iso(s["submitted_at"][i]),
            "graded_at": iso(s["graded_at"][i]),
            "posted_at": iso(s["graded_at"][i]),
            "cached_due_date": iso(due),
            "late": bool(s["late"][i]),
            "missing": bool(s["missing"][i]),
            "excused": False,
            "late_policy_status": None,
            "points_deducted": None,
            "seconds_late": int(s["seconds_late"][i]),
            "workflow_state": s["state"][i],
            "submission_type": "online_upload" if submitted else None,
            "grade_matches_current_submission": True,
        }

    def _visible_submissions(self, positions: np.ndarray) -> np.ndarray:
        """Students whose enrollment was deleted drop out of student_ids[]=all."""
        s = self.submissions.columns
        return self.enrollments.columns["state"][s["enrollment_pos"][positions]] != "deleted"

    def current_records(self, entity: str) -> dict[str, dict]:
        """What the API holds now, by id: every record a full walk should end with (deleted
        courses and enrollments excluded, as their tombstones remove them)."""
        rows, render = {
            "courses": (self.courses, self.render_course),
            "users": (self.users, self.render_user),
            "sections": (self.sections, self.render_section),
            "enrollments": (self.enrollments, self.render_enrollment),
            "assignments": (self.assignments, self.render_assignment),
            "submissions": (self.submissions, self.render_submission),
        }[entity]
        positions = np.arange(len(rows))
        if entity == "submissions":
            positions = positions[self._visible_submissions(positions)]
        elif entity == "enrollments":
            positions = positions[self.enrollments.columns["state"] != "deleted"]
        elif entity == "courses":
            positions = positions[self.courses.columns["workflow_state"] != "deleted"]
        return {str(rows.columns["id"][i]): render(int(i)) for i in positions}

    # -- endpoints ----------------------------------------------------------------------------
    def _courses(self, request: Request) -> Response:
        self._account(request)
        c = self.courses.columns
        states = set(request.args("state[]")) or {"created", "claimed", "available", "completed"}
        keep = None if "all" in states else (lambda p: np.isin(c["workflow_state"][p], list(states)))
        return self._page(request, self.courses, None, self.render_course, keep)

    def _users(self, request: Request) -> Response:
        self._account(request)
        return self._page(request, self.users, None, self.render_user)

    def _sections(self, request: Request) -> Response:
        return self._page(request, self.sections, self._course(request), self.render_section)

    def _enrollments(self, request: Request) -> Response:
        course_id = self._course(request)
        e = self.enrollments.columns
        states = request.args("state[]") or list(DEFAULT_ENROLLMENT_STATES)
        types = request.args("type[]")
        roles = [role for role, (name, _) in ENROLLMENT_TYPES.items() if not types or name in types]

        def keep(p: np.ndarray) -> np.ndarray:
            return np.isin(e["state"][p], states) & np.isin(e["role"][p], roles)

        return self._page(request, self.enrollments, course_id, self.render_enrollment, keep)

    def _assignments(self, request: Request) -> Response:
        return self._page(request, self.assignments, self._course(request), self.render_assignment)

    def _submissions(self, request: Request) -> Response:
        course_id = self._course(request)
        if "all" not in request.args("student_ids[]"):
            raise ValueError("student_ids[] must be given; this simulator supports student_ids[]=all")
        s = self.submissions.columns
        submitted_since, graded_since = request.arg("submitted_since"), request.arg("graded_since")
        submitted_floor = parse_time(submitted_since) if submitted_since else None
        graded_floor = parse_time(graded_since) if graded_since else None

        def keep(p: np.ndarray) -> np.ndarray:
            mask = self._visible_submissions(p)
            if submitted_floor is not None:
                mask &= s["submitted_at"][p] >= submitted_floor
            if graded_floor is not None:
                mask &= s["graded_at"][p] >= graded_floor
            return mask

        return self._page(request, self.submissions, course_id, self.render_submission, keep)


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _grade_text(score: float | None) -> str | None:
    if score is None:
        return None
    return str(int(score)) if float(score).is_integer() else str(score)


def _bookmark(page: str | None) -> int | None:
    """The key a bookmark page parameter resumes after (None: the first page)."""
    if page in (None, "", "first", "1"):
        return None
    if not page.startswith("bookmark:"):
        raise ValueError("invalid page parameter")
    try:
        return int(json.loads(base64.urlsafe_b64decode(page[9:].encode() + b"==="))[0])
    except (ValueError, TypeError, IndexError, KeyError):
        raise ValueError("invalid page bookmark") from None


def _encode_bookmark(key: int) -> str:
    return "bookmark:" + base64.urlsafe_b64encode(json.dumps([key]).encode()).decode().rstrip("=")


def build_simulator(
    truth: dict[str, pa.Table],
    config: DistrictConfig,
    clients: dict[str, str],
    *,
    faults: Faults | None = None,
    port: int = 0,
) -> CanvasApi:
    if not set(LMS_TABLES) <= set(truth):  # a truth folder written before the LMS truth existed
        truth = {**truth, **lms_truth(truth, config.demo.seed)}
    return CanvasApi(truth, clients=clients, faults=faults, port=port)
