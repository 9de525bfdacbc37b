"""Simulated Google Classroom API (v1) serving the district's elementary courses (simulators/lms.py).

Faithful where a connector could go wrong: OAuth 2 bearer tokens (Google issues them from its
token endpoint; the simulator grants them by client credentials at `/token`, standing in for a
service account), `pageSize`/`pageToken` with an opaque `nextPageToken` that is absent on the
last page, a server that returns fewer items than asked (at most 100), a list key that is
omitted altogether when a page is empty (`{}`), and Google-style error bodies
`{"error": {"code", "message", "status"}}` with 429 RESOURCE_EXHAUSTED for throttling.
Students are known by their Google profile (id and email), not by SIS ID.
"""

from __future__ import annotations

import base64
import json
import time

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

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 30
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
SUBMISSION_STATES = {"unsubmitted": "CREATED", "submitted": "TURNED_IN", "graded": "RETURNED"}
SUBMISSION_PREFIX = "Cg4I"


def rfc3339(seconds: int) -> str | None:
    return None if seconds < 0 else time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(int(seconds)))


class GoogleClassroomApi(SimulatedApi):
    system = "Google Classroom"
    token_path = "/token"

    def __init__(
        self,
        truth: dict[str, pa.Table],
        *,
        clients: dict[str, str] | None = None,
        faults: Faults | None = None,
        port: int = 0,
        token_ttl_seconds: int = 3600,
    ):
        super().__init__(clients=clients, faults=faults, port=port, token_ttl_seconds=token_ttl_seconds)
        self._load(truth)
        self.changed: list[str] = []  # submission keys changed by the `change_every` fault
        course = r"/v1/courses/(?P<course>\d+)"
        self.route("GET", r"/v1/courses", self._courses)
        self.route("GET", course + r"/students", self._students)
        self.route("GET", course + r"/teachers", self._teachers)
        self.route("GET", course + r"/courseWork", self._course_work)
        self.route("GET", course + r"/courseWork/(?P<work>[^/]+)/studentSubmissions", self._submissions)

    # -- data -------------------------------------------------------------------------------
    def _load(self, truth: dict[str, pa.Table]) -> None:
        courses = rows_in_lms(truth["lms_courses"], "google_classroom")
        users = rows_in_lms(truth["lms_users"], "google_classroom")
        user_ids = int_column(users, "lms_user_id")
        self.profiles = {
            int(uid): (first, last, email)
            for uid, first, last, email in zip(
                user_ids,
                object_column(users, "first_name"),
                object_column(users, "last_name"),
                object_column(users, "email"),
                strict=True,
            )
        }
        teacher_person = object_column(courses, "teacher_person_id")
        user_of_person = dict(zip(object_column(users, "person_id"), user_ids, strict=True))
        self.courses = KeyedRows(
            {
                "id": int_column(courses, "lms_course_id"),
                "name": object_column(courses, "name"),
                "section": np.char.add("Period ", object_column(courses, "period").astype(str)).astype(object),
                "owner_id": np.array([user_of_person.get(p, -1) for p in teacher_person], dtype=np.int64),
                "created": epoch_seconds(courses["created_at"]),
                "state": np.full(courses.num_rows, "ACTIVE", dtype=object),
            },
            key="id",
        )
        enrollments = rows_in_lms(truth["lms_enrollments"], "google_classroom")
        role = object_column(enrollments, "role")
        begin = epoch_seconds(pc.cast(enrollments["begin_date"], pa.timestamp("s", "UTC")))
        members = {
            "course_id": int_column(enrollments, "lms_course_id"),
            "user_id": int_column(enrollments, "lms_user_id"),
            "state": object_column(enrollments, "state"),
            "created": begin,
        }
        self.students = KeyedRows(
            {k: v[role == "student"] for k, v in members.items()}, key="user_id", group="course_id"
        )
        self.teachers = KeyedRows(
            {k: v[role == "teacher"] for k, v in members.items()}, key="user_id", group="course_id"
        )
        work = rows_in_lms(truth["lms_assignments"], "google_classroom")
        self.course_work = KeyedRows(
            {
                "id": int_column(work, "lms_assignment_id"),
                "course_id": int_column(work, "lms_course_id"),
                "title": object_column(work, "title"),
                "max_points": work["points_possible"].to_numpy().astype(float),
                "created": epoch_seconds(work["created_at"]),
                "due": epoch_seconds(work["due_at"]),
            },
            key="id",
            group="course_id",
        )
        submissions = rows_in_lms(truth["lms_submissions"], "google_classroom")
        number = np.array([int(s[len(SUBMISSION_PREFIX) :]) for s in object_column(submissions, "lms_submission_id")])
        course_ids, user = int_column(submissions, "lms_course_id"), int_column(submissions, "lms_user_id")
        student_key = {
            (int(c), int(u)): i
            for i, (c, u) in enumerate(
                zip(members["course_id"][role == "student"], members["user_id"][role == "student"], strict=True)
            )
        }
        submitted, graded = epoch_seconds(submissions["submitted_at"]), epoch_seconds(submissions["graded_at"])
        work_created = dict(
            zip(self.course_work.columns["id"].tolist(), self.course_work.columns["created"].tolist(), strict=True)
        )
        created = np.array([work_created[int(w)] for w in int_column(submissions, "lms_assignment_id")], dtype=np.int64)
        self.submissions = KeyedRows(
            {
                "number": number,
                "course_id": course_ids,
                "work_id": int_column(submissions, "lms_assignment_id"),
                "user_id": user,
                "student_pos": np.array(
                    [student_key[(int(c), int(u))] for c, u in zip(course_ids, user, strict=True)], dtype=np.int64
                ),
                "state": object_column(submissions, "state"),
                "late": submissions["late"].to_numpy(zero_copy_only=False).astype(bool),
                "grade": submissions["score"].to_numpy(zero_copy_only=False).astype(float),
                "created": created,
                "updated": np.maximum(np.maximum(submitted, graded), created),
            },
            key="number",
            group="course_id",
        )
        self.clock = int(self.submissions.columns["updated"].max(initial=0)) + 86_400

    # -- how Google words things ---------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        return Response(
            status, {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}}
        )

    def throttled(self) -> Response:
        return self.error(429, "Quota exceeded for quota metric 'Requests' of service 'classroom.googleapis.com'.")

    def unauthorized(self) -> Response:
        response = self.error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        return response

    def on_change(self) -> None:
        """A teacher returns a grade on the next piece of turned-in work, between pages."""
        cols = self.submissions.columns
        candidates = np.flatnonzero(cols["state"] != "unsubmitted")
        if len(candidates):
            position = int(candidates[(len(self.changed) * 7919) % len(candidates)])
            self.grade(int(cols["number"][position]), float(np.nan_to_num(cols["grade"][position])) % 7 + 1)
            self.changed.append(self.submission_key(position))

    # -- changes, for tests and the change fault ----------------------------------------------
    def tick(self) -> int:
        with self._lock:
            self.clock += 1
            return self.clock

    def grade(self, number: int, grade: float) -> None:
        cols = self.submissions.columns
        i = self.submissions.position(number)
        cols["grade"][i], cols["state"][i], cols["updated"][i] = grade, "graded", self.tick()

    def remove_student(self, course_id: int, user_id: int) -> None:
        rows = self.students
        i = int(np.flatnonzero((rows.columns["course_id"] == course_id) & (rows.columns["user_id"] == user_id))[0])
        rows.columns["state"][i] = "deleted"

    def add_course_work(self, course_id: int, title: str, max_points: float) -> int:
        cw = self.course_work.columns
        work_id = int(cw["id"].max()) + 1
        now = self.tick()
        self.course_work.append(
            {
                "id": [work_id],
                "course_id": [course_id],
                "title": [title],
                "max_points": [max_points],
                "created": [now],
                "due": [now + 7 * 86_400],
            }
        )
        st = self.students.columns
        students = np.flatnonzero((st["course_id"] == course_id) & (st["state"] == "active"))
        first = int(self.submissions.columns["number"].max()) + 1
        n = len(students)
        self.submissions.append(
            {
                "number": np.arange(first, first + n),
                "course_id": [course_id] * n,
                "work_id": [work_id] * n,
                "user_id": st["user_id"][students],
                "student_pos": students,
                "state": ["unsubmitted"] * n,
                "late": [False] * n,
                "grade": [np.nan] * n,
                "created": [now] * n,
                "updated": [now] * n,
            }
        )
        return work_id

    # -- records as the API renders them -------------------------------------------------------
    def _profile(self, user_id: int) -> dict:
        first, last, email = self.profiles[user_id]
        name = {"givenName": first, "familyName": last, "fullName": " ".join(p for p in (first, last) if p)}
        name = {k: v for k, v in name.items() if v}
        if "fullName" not in name and email:
            name["fullName"] = email.split("@")[0]
        return {"id": str(user_id), "name": name, "emailAddress": email}

    def render_course(self, i: int) -> dict:
        c = self.courses.columns
        course_id = str(c["id"][i])
        record = {
            "id": course_id,
            "name": c["name"][i],
            "section": c["section"][i],
            "ownerId": str(c["owner_id"][i]),
            "creationTime": rfc3339(c["created"][i]),
            "updateTime": rfc3339(c["created"][i]),
            "courseState": c["state"][i],
            "alternateLink": f"https://classroom.google.com/c/{course_id}",
            "guardiansEnabled": False,
        }
        if c["owner_id"][i] < 0:
            del record["ownerId"]
        return record

    def _render_member(self, rows: KeyedRows, i: int) -> dict:
        cols = rows.columns
        user_id = int(cols["user_id"][i])
        return {"courseId": str(cols["course_id"][i]), "userId": str(user_id), "profile": self._profile(user_id)}

    def render_student(self, i: int) -> dict:
        return self._render_member(self.students, i)

    def render_teacher(self, i: int) -> dict:
        return self._render_member(self.teachers, i)

    def render_course_work(self, i: int) -> dict:
        w = self.course_work.columns
        due = time.gmtime(int(w["due"][i]))
        course_id, work_id = str(w["course_id"][i]), str(w["id"][i])
        return {
            "courseId": course_id,
            "id": work_id,
            "title": w["title"][i],
            "state": "PUBLISHED",
            "alternateLink": f"https://classroom.google.com/c/{course_id}/a/{work_id}/details",
            "creationTime": rfc3339(w["created"][i]),
            "updateTime": rfc3339(w["created"][i]),
            "dueDate": {"year": due.tm_year, "month": due.tm_mon, "day": due.tm_mday},
            "dueTime": {"hours": due.tm_hour, "minutes": due.tm_min},
            "maxPoints": float(w["max_points"][i]),
            "workType": "ASSIGNMENT",
            "submissionModificationMode": "MODIFIABLE_UNTIL_TURNED_IN",
            "assigneeMode": "ALL_STUDENTS",
        }

    def submission_key(self, i: int) -> str:
        s = self.submissions.columns
        return f"{s['course_id'][i]}:{s['work_id'][i]}:{SUBMISSION_PREFIX}{s['number'][i]}"

    def render_submission(self, i: int) -> dict:
        s = self.submissions.columns
        record = {
            "courseId": str(s["course_id"][i]),
            "courseWorkId": str(s["work_id"][i]),
            "id": f"{SUBMISSION_PREFIX}{s['number'][i]}",
            "userId": str(s["user_id"][i]),
            "creationTime": rfc3339(s["created"][i]),
            "updateTime": rfc3339(s["updated"][i]),
            "state": SUBMISSION_STATES[s["state"][i]],
            "alternateLink": f"https://classroom.google.com/c/{s['course_id'][i]}/a/{s['work_id'][i]}/submissions/by-status/and-sort-first-name/student/{s['user_id'][i]}",
            "courseWorkType": "ASSIGNMENT",
        }
        if s["late"][i]:
            record["late"] = True  # Google omits false booleans
        if s["state"][i] == "graded":
            record["draftGrade"] = record["assignedGrade"] = float(s["grade"][i])
        return record

    def _visible_submissions(self, positions: np.ndarray) -> np.ndarray:
        """Submissions of students still in the course (a removed student's work is hidden)."""
        return self.students.columns["state"][self.submissions.columns["student_pos"][positions]] == "active"

    def current_records(self, entity: str) -> dict[str, dict]:
        """What the API holds now, keyed as the connector keys it."""
        if entity == "courses":
            return {str(c): self.render_course(i) for i, c in enumerate(self.courses.columns["id"])}
        if entity in ("students", "teachers"):
            rows, render = (
                (self.students, self.render_student) if entity == "students" else (self.teachers, self.render_teacher)
            )
            active = np.flatnonzero(rows.columns["state"] == "active")
            return {f"{rows.columns['course_id'][i]}:{rows.columns['user_id'][i]}": render(int(i)) for i in active}
        if entity == "course_work":
            w = self.course_work.columns
            return {
                f"{w['course_id'][i]}:{w['id'][i]}": self.render_course_work(i) for i in range(len(self.course_work))
            }
        positions = np.flatnonzero(self._visible_submissions(np.arange(len(self.submissions))))
        return {self.submission_key(int(i)): self.render_submission(int(i)) for i in positions}

    # -- paging and endpoints -------------------------------------------------------------------
    def _page(self, request: Request, rows: KeyedRows, group, item_key: str, render, keep=None) -> Response:
        size = int_arg(request, "pageSize", DEFAULT_PAGE_SIZE, low=0)
        size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)  # the server may return fewer than asked
        positions, more = rows.page(group, _page_token(request.arg("pageToken")), size, keep)
        body: dict = {}
        if len(positions):  # an empty page is `{}`: the list key is left out
            body[item_key] = [render(int(i)) for i in positions]
        if more:
            body["nextPageToken"] = _encode_token(int(rows.columns[rows.key][positions[-1]]))
        return Response(200, body)

    def _call(self, handler, request: Request) -> Response:
        try:
            return super()._call(handler, request)
        except LookupError:
            return self.error(404, "Requested entity was not found.")

    def _course(self, request: Request) -> int:
        course_id = int(request.match["course"])
        self.courses.position(course_id)  # KeyError (a LookupError) for an unknown course
        return course_id

    def _courses(self, request: Request) -> Response:
        states = request.args("courseStates")
        c = self.courses.columns
        keep = (lambda p: np.isin(c["state"][p], states)) if states else None
        return self._page(request, self.courses, None, "courses", self.render_course, keep)

    def _active(self, rows: KeyedRows):
        return lambda p: rows.columns["state"][p] == "active"

    def _students(self, request: Request) -> Response:
        course = self._course(request)
        return self._page(request, self.students, course, "students", self.render_student, self._active(self.students))

    def _teachers(self, request: Request) -> Response:
        course = self._course(request)
        return self._page(request, self.teachers, course, "teachers", self.render_teacher, self._active(self.teachers))

    def _course_work(self, request: Request) -> Response:
        course = self._course(request)
        return self._page(request, self.course_work, course, "courseWork", self.render_course_work)

    def _submissions(self, request: Request) -> Response:
        course = self._course(request)
        work = request.match["work"]
        s = self.submissions.columns

        def keep(p: np.ndarray) -> np.ndarray:
            mask = self._visible_submissions(p)
            return mask if work == "-" else mask & (s["work_id"][p] == int(work))

        return self._page(request, self.submissions, course, "studentSubmissions", self.render_submission, keep)


def _page_token(token: str | None) -> int | None:
    if not token:
        return None
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode() + b"==="))["after"])
    except (ValueError, TypeError, KeyError):
        raise ValueError("Invalid page token.") from None


def _encode_token(key: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode().rstrip("=")


def build_simulator(
    truth: dict[str, pa.Table],
    config: DistrictConfig,
    clients: dict[str, str],
    *,
    faults: Faults | None = None,
    port: int = 0,
) -> GoogleClassroomApi:
    if not set(LMS_TABLES) <= set(truth):  # a truth folder written before the LMS truth existed
        truth = {**truth, **lms_truth(truth, config.demo.seed)}
    return GoogleClassroomApi(truth, clients=clients, faults=faults, port=port)
