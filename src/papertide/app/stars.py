"""GitHub stars of the papers' code repositories, asked of GitHub (sources/github.py) and
recorded in the store as signals, paper by paper."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import httpx

from papertide.model import RepoState, Signal
from papertide.settings import Settings
from papertide.sources.github import KIND, SOURCE, GitHubClient, GitHubRateLimited, iso_time, merge_answer
from papertide.sources.links import github_repo
from papertide.store import Store


@dataclass
class StarsReport:
    """What ``refresh_stars`` did."""

    papers: int = 0          # papers whose stars were recorded
    repos: int = 0           # repositories asked about
    changed: int = 0         # 200 answers
    not_modified: int = 0    # 304 answers
    missing: int = 0         # 404/410
    blocked: int = 0         # 403 (not a rate limit) / 451
    signals: int = 0         # observations stored (only changed totals are)
    requests: int = 0
    stopped: str = ""        # why the run stopped early, if it did

    def as_dict(self) -> dict[str, int | str]:
        return dict(self.__dict__)


def refresh_stars(store: Store, settings: Settings, *, limit: int, sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None,
                  on_paper: Callable[[StarsReport], None] | None = None) -> StarsReport:
    """Ask GitHub about the repositories of the ``limit`` newest papers with GitHub links.

    Papers whose repositories were never asked about go first, then those asked about
    longest ago (newest papers first among equals), so runs cut short by the rate limit
    still get round to every paper. Each paper's total (the sum over its repositories;
    deleted ones count 0) is stored as it completes, so a stop keeps what was fetched.
    """
    papers = [(pid, list(dict.fromkeys(r for r in map(github_repo, urls) if r)))
              for pid, urls in store.papers_with_code(limit, "github.com")]
    papers = [(pid, repos) for pid, repos in papers if repos]
    states = store.github_repos(r for _, repos in papers for r in repos)
    papers.sort(key=lambda p: min(states[r].checked_at if r in states else "" for r in p[1]))
    report, done = StarsReport(), set()
    client = GitHubClient(settings, sleep=sleep, clock=clock, transport=transport)
    try:
        for pid, repos in papers:
            for repo in repos:
                if repo.lower() not in done:
                    states[repo] = _ask(client, store, repo, states.get(repo), report, clock)
                    done.add(repo.lower())
            total = sum(states[r].stars or 0 for r in repos if states[r].status == "ok")
            observed = Signal(KIND, float(total), iso_time(clock()), SOURCE)
            report.signals += store.add_paper_signals([(pid, observed)])
            report.papers += 1
            if on_paper:
                on_paper(report)
    except GitHubRateLimited as exc:
        report.stopped = str(exc)
    finally:
        report.requests = client.requests
        client.close()
    return report


def _ask(client: GitHubClient, store: Store, repo: str, old: RepoState | None, report: StarsReport,
         clock: Callable[[], float]) -> RepoState:
    answer = client.repo(repo, old.etag if old is not None and old.status == "ok" else "")
    state = merge_answer(old, answer, iso_time(clock()))
    store.save_github_repo(state)
    report.repos += 1
    counter = {"ok": "changed", "not_modified": "not_modified", "missing": "missing", "blocked": "blocked"}
    setattr(report, counter[answer.status], getattr(report, counter[answer.status]) + 1)
    return state
