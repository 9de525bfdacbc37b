"""Alerts: a failed run, a failed blocking check, a stale source, told to the people who act on it.

`alerts_for_run` reads one finished run from the Dagster instance (its status, step failures and
asset check results) and words what needs a person: which asset and check, which source or
file, and what to do. `send_alerts` delivers them to every configured channel: the alert log
file (always), email over SMTP and chat webhooks (Slack or Teams JSON). A channel that fails is
reported and skipped; it never fails the run.

Nothing personal reaches an alert: check details are built never to hold a value (file, row and
rule only), and a step that failed with an unexpected exception (whose message could quote data)
is named with the exception's type only, its message left in the run log.
"""

from __future__ import annotations

import json
import os
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from interop_pipeline.assets.extract.source_health import FRESHNESS_CHECK
from interop_pipeline.config import AlertSettings, DistrictConfig

DETAIL_LIMIT = 600
# What a person does about a failed check, by check name (the rest: the dbt tests).
WHAT_TO_DO = {
    "delivery_accepted": "Fix the refused file (the detail names it and why) and drop the corrected file in the "
    "source's drop folder; the source keeps its last good data until then.",
    FRESHNESS_CHECK: "Ask the vendor or check the export job: nothing new has arrived within the limit.",
    "oneroster_valid": "Nothing was delivered. Fix the rows the detail names in the warehouse's source, then re-run "
    "the recipient's asset.",
    "within_agreement": "Nothing was delivered. The extract would have shared more than the agreement allows: check "
    "the recipient's schools, grades and fields.",
    "no_failed_records": "Read the results file the detail names for the ODS's answer per record; failed records "
    "are sent again on the next load.",
    "edfi_documents_complete": "Records were refused before sending; the results file says why, per record.",
    "k_anonymous": "Nothing was delivered: the research file would single students out. Widen the agreement's "
    "generalization or raise max_suppressed_share.",
}
BLOCKING_TEST = (
    "A blocking data test failed, so the release did not run and analysts still see the last good warehouse. "
    "Open the check in the Dagster UI for the failing rows' query, fix the source, re-run."
)


@dataclass(frozen=True)
class Alert:
    kind: str  # run_failed | check_failed | source_stale
    subject: str
    body: str


def _failed_checks(instance, run_id: str) -> list:
    from dagster import AssetCheckSeverity

    from interop_pipeline.assets.release import check_evaluations

    return [
        e
        for e in check_evaluations(instance, run_id)
        if not e.passed and (e.severity == AssetCheckSeverity.ERROR or e.check_name == FRESHNESS_CHECK)
    ]


def _step_failures(instance, run_id: str) -> list[tuple[str, str]]:
    from dagster import DagsterEventType

    failures = []
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records:
        event = record.event_log_entry.dagster_event
        error = event.event_specific_data.error
        if error is not None and error.cls_name == "Failure":  # our own words: file, row, rule
            said = error.message.strip()[:DETAIL_LIMIT]
        else:
            said = f"unexpected {error.cls_name if error else 'error'}: see the run log"
        failures.append((event.step_key, said))
    return failures


def _detail(evaluation) -> str:
    metadata = evaluation.metadata or {}
    for name in ("detail", "refusals", "changes", "age_hours", "reject_rate"):
        if name in metadata:
            value = getattr(metadata[name], "value", metadata[name])
            return f"{name}: {str(value)[:DETAIL_LIMIT]}"
    return ""


def alerts_for_run(config: DistrictConfig, instance, run_id: str) -> list[Alert]:
    """What in a finished run needs a person: the run's failure, each failed blocking check and
    each stale source."""
    from dagster import DagsterRunStatus

    run = instance.get_run_by_id(run_id)
    district = config.district.name
    alerts = []
    for evaluation in _failed_checks(instance, run_id):
        asset = evaluation.asset_key.to_user_string()
        stale = evaluation.check_name == FRESHNESS_CHECK
        what_to_do = WHAT_TO_DO.get(evaluation.check_name, BLOCKING_TEST)
        body = [
            f"Asset: {asset}",
            f"Check: {evaluation.check_name}" + (f" ({evaluation.description})" if evaluation.description else ""),
        ]
        detail = _detail(evaluation)
        if detail:
            body.append(f"Detail: {detail}")
        body += [f"Run: {run_id}", f"What to do: {what_to_do}"]
        kind = "source_stale" if stale else "check_failed"
        subject = f"[{district}] {'stale source' if stale else 'check failed'}: {asset} {evaluation.check_name}"
        alerts.append(Alert(kind, subject, "\n".join(body)))
    if run is not None and run.status == DagsterRunStatus.FAILURE:
        failures = _step_failures(instance, run_id)
        body = [f"Job: {run.job_name}", f"Run: {run_id}"]
        body += [f"Failed step {step}: {said}" for step, said in failures] or ["No step failed: see the run log."]
        body.append(
            "What to do: open the run in the Dagster UI, fix what the failed step names, and re-run it "
            "(or `interop-pipeline run`). The published warehouse was left as it was."
        )
        alerts.append(Alert("run_failed", f"[{district}] run failed: {run.job_name}", "\n".join(body)))
    return alerts


# -- channels -------------------------------------------------------------------------------
def _log(settings: AlertSettings, config: DistrictConfig, alert: Alert) -> None:
    path = config.data_dir / settings.log_file
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"at": datetime.now(UTC).isoformat(), "kind": alert.kind, "subject": alert.subject, "body": alert.body}
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def _email(settings: AlertSettings, alerts: list[Alert], environ: dict[str, str]) -> None:
    email = settings.email
    assert email is not None
    with smtplib.SMTP(email.smtp_host, email.smtp_port, timeout=15) as smtp:
        if email.starttls:
            smtp.starttls()
        if email.username_env and email.password_env:
            smtp.login(environ[email.username_env], environ[email.password_env])
        for alert in alerts:
            message = EmailMessage()
            message["From"] = email.from_address
            message["To"] = ", ".join(email.to)
            message["Subject"] = alert.subject
            message.set_content(alert.body)
            smtp.send_message(message)


def _session() -> requests.Session:
    session = requests.Session()
    retry = Retry(
        total=3, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"POST"})
    )
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def webhook_payload(fmt: str, alert: Alert) -> dict:
    if fmt == "teams":  # an Office 365 connector card: title and text
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "title": alert.subject,
            "text": alert.body.replace("\n", "<br>"),
        }
    return {"text": f"*{alert.subject}*\n{alert.body}"}  # Slack incoming webhook


def send_alerts(
    config: DistrictConfig,
    alerts: Iterable[Alert],
    say: Callable[[str], None],
    environ: dict[str, str] | None = None,
) -> list[str]:
    """Deliver every alert on every channel; returns the channels that failed (each said)."""
    alerts = list(alerts)
    if not alerts:
        return []
    settings = config.alerts
    environ = dict(os.environ if environ is None else environ)
    failed = []
    for alert in alerts:
        _log(settings, config, alert)
    if settings.email is not None:
        try:
            _email(settings, alerts, environ)
        except (OSError, smtplib.SMTPException, KeyError) as error:
            failed.append("email")
            say(f"Alert email to {settings.email.smtp_host} failed: {type(error).__name__}")
    with _session() as session:
        for hook in settings.webhooks:
            url = environ.get(hook.url_env)
            if not url:
                failed.append(hook.url_env)
                say(f"Alert webhook skipped: {hook.url_env} is not set")
                continue
            try:
                for alert in alerts:
                    session.post(url, json=webhook_payload(hook.format, alert), timeout=15).raise_for_status()
            except requests.RequestException as error:
                failed.append(hook.url_env)
                # The URL holds the webhook's secret: name its variable, never the URL.
                say(f"Alert webhook {hook.url_env} failed: {type(error).__name__}")
    say(f"{len(alerts)} alert(s) sent: " + "; ".join(a.subject for a in alerts))
    return failed
