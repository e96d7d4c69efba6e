"""Digests end to end: a real SMTP server on 127.0.0.1 records what is sent, the links in the
mail are followed against the running routes, and failures are injected into the server."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
from click.testing import CliRunner
from digest_support import env_of, papers, seed

from papertide.cli import cli
from papertide.digest.runner import EX_TEMPFAIL, run_digests
from papertide.digest.scheduler import DigestScheduler
from papertide.settings import Settings
from papertide.store import open_store

TODAY = datetime.now(timezone.utc).date()


def cli_run(settings: Settings, *args: str, **extra: str):
    env = {**env_of(settings), **extra}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://\S+", text)


def test_subscribe_confirm_receive_and_unsubscribe_in_one_click(digest_app, smtp_server, tmp_path: Path) -> None:
    settings = digest_app.settings
    store = open_store(settings.db)
    store.ingest(papers(0, 10))
    store.close()
    result = cli_run(settings, "subscribe", "Ada@Example.org", "--search", "diffusion", "--author", "Author 3",
                     "--tz", "Europe/Paris", "--hour", "6", "--max", "5")
    assert result.exit_code == 0, result.output
    assert "confirmation mail sent" in result.output
    [confirmation] = smtp_server.recorder.wait_for(1)
    assert confirmation.rcpt_tos == ["ada@example.org"]
    confirm_link = [u for u in links_in(confirmation.message.get_body(("plain",)).get_content()) if "/confirm/" in u][0]
    page = httpx.get(confirm_link)  # what a mail scanner does: shows a button, confirms nothing
    assert page.status_code == 200 and "Confirm your digest?" in page.text and "<button" in page.text
    store = open_store(settings.db)
    assert store.subscriber(email="ada@example.org").status == "requested"
    store.close()
    page = httpx.post(confirm_link)
    assert page.status_code == 200 and "Your digest is confirmed" in page.text

    result = cli_run(settings, "digest", "run", "--date", TODAY.isoformat())
    assert result.exit_code == 0, result.output
    assert "sent 1," in result.output
    digest = smtp_server.recorder.wait_for(2)[1]
    message = digest.message
    assert not message.defects and message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert abs(parsedate_to_datetime(message["Date"]) - datetime.now(timezone.utc)) < timedelta(minutes=5)
    store = open_store(settings.db)
    row = store.outbox_row(f"digest:{store.subscriber(email='ada@example.org').id}:{TODAY}")
    store.close()
    assert message["Message-ID"] == row.message_id and row.status == "sent"
    assert digest.data == row.mime  # the stored bytes are exactly what went out
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert '== "diffusion" ==' in text and "== By Author 3 ==" in text
    for link in ("/papers/2611.00000", "https://arxiv.org/abs/2611.00000", "https://arxiv.org/pdf/2611.00000",
                 "https://github.com/lab/p0"):
        assert link in text and link in html
    assert "@media (prefers-color-scheme: dark)" in html and "<img" not in html

    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(https?://[^>]+)>", message["List-Unsubscribe"]).group(1)
    assert httpx.get(unsubscribe).text.count("<form") == 1  # GET only asks; mail scanners follow links
    response = httpx.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    assert "You are unsubscribed" in httpx.get(unsubscribe).text
    result = cli_run(settings, "digest", "run", "--date", (TODAY + timedelta(days=1)).isoformat())
    assert "digests due 0" in result.output
    assert len(smtp_server.recorder.messages) == 2


def test_manage_page_over_http(digest_app, smtp_server) -> None:
    settings = digest_app.settings
    seed(settings, ["ada@example.org"], follows={"searches": ["diffusion"], "categories": ["cs.CV"]})
    run_digests(open_store(settings.db), settings, day=TODAY)
    message = smtp_server.recorder.wait_for(1)[0].message
    manage = [u for u in links_in(message.get_body(("plain",)).get_content()) if "/manage/" in u][0]
    page = httpx.get(manage)
    assert page.status_code == 200 and "New in cs.CV" in page.text and 'name="keep"' in page.text
    form = {"keep": "0", "frequency": "weekly", "hour": "9", "tz": "America/New_York", "max_papers": "12"}
    saved = httpx.post(manage, data=form)
    assert saved.status_code == 200 and "Saved." in saved.text
    store = open_store(settings.db)
    sub = store.subscriber(email="ada@example.org")
    store.close()
    assert (sub.frequency, sub.hour, sub.tz, sub.max_papers) == ("weekly", 9, "America/New_York", 12)
    assert sub.follows["categories"] == [] and sub.follows["searches"][0]["query"] == "diffusion"
    assert httpx.post(manage, data={**form, "tz": "Nowhere/Land"}).status_code == 400
    more = {"keep": ["0"], "frequency": "daily", "hour": "6", "tz": "Europe/Paris", "max_papers": "12",
            "add_searches": "interactive segmentation\n\n3D CT", "add_authors": "Jun Ma", "add_categories": "eess.IV, cs.CL"}
    added = httpx.post(manage, data=more)
    assert added.status_code == 200 and "Saved." in added.text and "/static/style.css" in added.text
    store = open_store(settings.db)
    sub = store.subscriber(email="ada@example.org")
    store.close()
    assert [s["query"] for s in sub.follows["searches"]] == ["diffusion", "interactive segmentation", "3D CT"]
    assert sub.follows["authors"] == ["Jun Ma"] and sub.follows["categories"] == ["eess.IV", "cs.CL"]
    assert (sub.frequency, sub.hour, sub.tz) == ("daily", 6, "Europe/Paris")
    bad = httpx.post(manage, data={**more, "add_categories": "cs/<x>"})  # a malformed one is named, nothing saved
    assert bad.status_code == 400 and "cs/&lt;x&gt;" in bad.text
    assert httpx.get(manage[:-3] + "xyz").status_code == 400
    assert httpx.post(digest_app.url + "/unsubscribe/forged.token.here").status_code == 400


def test_a_rerun_sends_nothing_twice(digest_settings, smtp_server) -> None:
    settings = digest_settings()
    emails = [f"reader{i}@example.org" for i in range(5)]
    seed(settings, emails)
    store = open_store(settings.db)
    first = run_digests(store, settings, day=TODAY)
    again = run_digests(store, settings, day=TODAY)
    store.close()
    assert (first.delivery.sent, again.queue.due, again.delivery.sent) == (5, 0, 0)
    assert sorted(r for m in smtp_server.recorder.messages for r in m.rcpt_tos) == emails


def test_server_down_then_back(digest_settings, smtp_server) -> None:
    settings = digest_settings(smtp_retry_wait=0.3, smtp_retry_base=0.1)
    seed(settings, ["a@example.org", "b@example.org"])
    smtp_server.stop()
    result = cli_run(settings, "digest", "run", "--date", TODAY.isoformat())
    assert result.exit_code == EX_TEMPFAIL
    assert "unreachable" in result.output and "messages stay queued" in result.output
    status = cli_run(settings, "digest", "status")
    assert "queued 2" in status.output and "sent 0" in status.output
    smtp_server.start()
    result = cli_run(settings, "digest", "run")
    assert result.exit_code == 0, result.output
    assert sorted(m.rcpt_tos[0] for m in smtp_server.recorder.wait_for(2)) == ["a@example.org", "b@example.org"]
    assert "sent 2" in cli_run(settings, "digest", "status").output


def test_421_then_success(digest_settings, smtp_server) -> None:
    settings = digest_settings()
    seed(settings, ["a@example.org", "b@example.org"])
    smtp_server.recorder.data_replies.append("421 4.3.2 Service busy, try again")
    store = open_store(settings.db)
    report = run_digests(store, settings, day=TODAY)
    rows = [store.outbox_row(f"digest:{s.id}:{TODAY}") for s in store.subscribers()]
    store.close()
    assert (report.delivery.sent, report.delivery.retried, report.exit_code) == (2, 1, 0)
    assert sorted(r.attempts for r in rows) == [1, 2]
    assert sorted(m.rcpt_tos[0] for m in smtp_server.recorder.messages) == ["a@example.org", "b@example.org"]


def test_a_refused_recipient_bounces_and_the_batch_goes_on(digest_settings, smtp_server) -> None:
    settings = digest_settings()
    emails = ["a@example.org", "gone@example.org", "c@example.org"]
    seed(settings, emails)
    smtp_server.recorder.refuse["gone@example.org"] = "550 5.1.1 No such mailbox"
    store = open_store(settings.db)
    report = run_digests(store, settings, day=TODAY)
    assert (report.delivery.sent, report.delivery.bounced) == (2, 1)
    assert store.subscriber(email="gone@example.org").status == "bounced"
    assert run_digests(store, settings, day=TODAY + timedelta(days=1)).queue.due == 2  # not the bounced one
    store.close()
    status = cli_run(settings, "digest", "status")
    assert "bounced 1" in status.output and "550 5.1.1 No such mailbox" in status.output


def test_transient_failures_give_up_after_the_last_try(digest_settings, smtp_server) -> None:
    settings = digest_settings(smtp_max_attempts=3, smtp_retry_base=0.02)
    seed(settings, ["a@example.org"])
    smtp_server.recorder.data_replies.extend(["451 4.7.1 Greylisted"] * 5)
    store = open_store(settings.db)
    report = run_digests(store, settings, day=TODAY)
    store.close()
    assert (report.delivery.sent, report.delivery.retried, report.delivery.failed) == (0, 2, 1)
    assert "failed 1" in cli_run(settings, "digest", "status").output


def test_dry_run_and_preview_write_nothing(digest_settings, smtp_server, tmp_path: Path) -> None:
    settings = digest_settings()
    seed(settings, ["a@example.org"])
    result = cli_run(settings, "digest", "run", "--dry-run", "--date", TODAY.isoformat())
    assert result.exit_code == 0 and "would queue 1" in result.output
    out = tmp_path / "preview.html"
    result = cli_run(settings, "digest", "preview", "a@example.org", "--date", TODAY.isoformat(), "-o", str(out))
    assert result.exit_code == 0 and "composed now" in result.output
    assert out.read_text().startswith("<!doctype html>")
    assert "Paper " in cli_run(settings, "digest", "preview", "a@example.org", "--text").output
    assert "queued 0" in cli_run(settings, "digest", "status").output and not smtp_server.recorder.messages


def test_the_smtp_password_is_never_shown(digest_settings, smtp_server) -> None:
    settings = digest_settings(smtp_user="digest", smtp_password="hunter2-secret", smtp_retry_wait=0.0)
    seed(settings, ["a@example.org"])
    result = cli_run(settings, "-v", "digest", "run", "--date", TODAY.isoformat())
    assert result.exit_code == EX_TEMPFAIL  # the test server offers no AUTH
    assert "hunter2" not in result.output
    assert "hunter2" not in cli_run(settings, "settings").output


def test_two_schedulers_send_each_digest_once(digest_settings, smtp_server) -> None:
    """Two web workers' schedulers on one store: one runs each minute, the other skips."""
    settings = digest_settings(smtp_retry_wait=0.0)
    emails = [f"r{i}@example.org" for i in range(6)]
    seed(settings, emails, confirmed_at=datetime.now(timezone.utc) - timedelta(days=2), hour=0, tz="UTC")
    workers = [DigestScheduler(settings, interval=0.05).start() for _ in range(2)]
    try:
        received = smtp_server.recorder.wait_for(len(emails))
        for worker in workers:  # both tick a few more times, with nothing left to send
            assert worker.wait_ticks(worker.ticks + 3, timeout=20)
    finally:
        for worker in workers:
            worker.stop()
    assert sorted(r for m in smtp_server.recorder.messages for r in m.rcpt_tos) == sorted(emails)
    assert len(received) == len(emails)
