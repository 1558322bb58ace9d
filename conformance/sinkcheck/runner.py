"""Run cases against a peer: per-case timeouts, outcomes, expected failures. No case can hang the run."""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinkkit import kit_argument

from .context import CaseContext, RunState
from .model import Case, CaseResult, CheckFailed, Level, Outcome, Unsupported, requirement_outcomes
from .observe import case_observer, describe_crashes
from .profile import DERIVED_FEATURES, Profile

__all__ = ["select", "run_cases", "RunSummary", "load_expected_failures", "summarize"]

NO_CLIENT_STORE = (
    "the profile says the client keeps no store of its own ([client] keeps_store = false): this case "
    "checks what a client keeps across a restart or a reconnect (instance ids, unanswered or answered "
    "events), which such a client leaves to the application around it"
)

FAILED_OUTCOME = {Level.MUST: Outcome.FAIL, Level.SHOULD: Outcome.NON_STRICT, Level.MAY: Outcome.INFORMATIONAL}


def select(
    cases: Iterable[Case], *, include: list[str] | None = None, exclude: list[str] | None = None, slow: bool = True
) -> list[Case]:
    """Cases whose ID matches an ``include`` glob (all by default) and no ``exclude`` glob."""
    chosen = []
    for c in cases:
        if include and not any(fnmatch.fnmatchcase(c.id, pattern) for pattern in include):
            continue
        if exclude and any(fnmatch.fnmatchcase(c.id, pattern) for pattern in exclude):
            continue
        if c.slow and not slow:
            continue
        chosen.append(c)
    return chosen


def case_timeout(case: Case, profile: Profile, scale: float) -> float:
    if case.mode == "client":
        # the client's own K, plus the time the client may take to start and to be restarted
        k = profile.client_keepalive
        waits = profile.client.connect_wait + 2 * profile.client.reconnect_wait
    else:
        k, waits = profile.keepalive, 0.0
    base = case.timeout if case.timeout > 0 else 3.0 * k + 10.0
    return (base + waits) * scale


async def run_case(
    case: Case, *, host: str, port: int, profile: Profile, state: RunState, scale: float, context: Any = None
) -> CaseResult:
    """Run one case; ``context`` replaces the server-mode CaseContext (client mode passes its own)."""
    started = time.monotonic()
    ctx = (
        context
        if context is not None
        else CaseContext(host=host, port=port, profile=profile, state=state, case_id=case.id, scale=scale)
    )
    if case.feature is not None and not profile.has(case.feature):
        why = (
            f"the profile does not say that {DERIVED_FEATURES[case.feature]}"
            if case.feature in DERIVED_FEATURES
            else f"feature '{case.feature}' not declared in the profile"
        )
        return CaseResult(case, Outcome.UNSUPPORTED, why, 0.0)
    if case.needs_client_store and not profile.client.keeps_store:
        return CaseResult(case, Outcome.UNSUPPORTED, NO_CLIENT_STORE, 0.0)
    observer = case_observer(profile, ctx, scale=scale)
    marks = observer.mark() if observer is not None else []
    failed: tuple[str, ...] | None = None
    try:
        observed = await asyncio.wait_for(case.run(ctx), case_timeout(case, profile, scale))
        outcome = Outcome.PASS
    except CheckFailed as exc:
        outcome, observed = FAILED_OUTCOME[exc.level or case.level], exc.observed
        failed = exc.requirements
    except Unsupported as exc:
        outcome, observed = Outcome.UNSUPPORTED, str(exc)
    except TimeoutError:
        outcome = FAILED_OUTCOME[case.level]
        observed = f"no verdict within {case_timeout(case, profile, scale):.1f} s: the peer never reacted as required"
    except Exception as exc:  # the runner failed, not the peer: never a pass
        outcome, observed = Outcome.ERROR, f"runner error: {type(exc).__name__}: {exc}"
    finally:
        try:
            await asyncio.wait_for(ctx.close_all(), 5)
        except Exception:  # closing a broken connection must not change the verdict
            pass
    crashes = await observer.collect(marks) if observer is not None else []
    requirements = requirement_outcomes(
        case,
        outcome,
        met=getattr(ctx, "met", set()),
        failed=failed,
        crash_observed=bool(crashes),
        crash_watched=observer is not None and observer.watches,
    )
    if crashes:  # ERR-5 is a MUST: a crash fails the case whatever its own checks said
        observed = f"{describe_crashes(crashes)}; the case itself: {outcome.value}: {observed}"
        outcome = Outcome.FAIL
    return CaseResult(
        case,
        outcome,
        observed,
        time.monotonic() - started,
        wire=ctx.log,
        requirements=requirements,
        crashes=[c.to_json() for c in crashes],
    )


async def run_cases(
    cases: list[Case],
    *,
    host: str,
    port: int,
    profile: Profile,
    scale: float = 1.0,
    expected_failures: set[str] | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
    context_factory: Callable[[Case], Any] | None = None,
) -> list[CaseResult]:
    state = RunState()
    results = []
    for case in cases:
        context = context_factory(case) if context_factory is not None else None
        result = await run_case(case, host=host, port=port, profile=profile, state=state, scale=scale, context=context)
        if expected_failures and case.id in expected_failures and result.outcome in (Outcome.FAIL, Outcome.NON_STRICT):
            result.expected_failure = True
        results.append(result)
        if on_result:
            on_result(result)
    return results


def load_expected_failures(path: Path | None) -> set[str]:
    """One case ID per line; ``#`` starts a comment (protobuf-conformance style).

    A relative path that does not exist from here names the kit's own file
    (``conformance/profiles/elixir-field.expected-failures``), in a checkout or
    an installed wheel.
    """
    if path is None:
        return set()
    ids = set()
    for line in Path(kit_argument(str(path))).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.add(line)
    return ids


@dataclass
class RunSummary:
    counts: dict[str, int] = field(default_factory=dict)
    unexpected_failures: list[str] = field(default_factory=list)  # MUST failures not listed
    unexpected_passes: list[str] = field(default_factory=list)  # listed, but passed: the list is stale
    unknown_expected: list[str] = field(default_factory=list)  # listed IDs that are not in the run
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        if self.unexpected_failures or self.unexpected_passes or self.unknown_expected:
            return 1
        return 0


def summarize(results: list[CaseResult], expected_failures: set[str], known_ids: set[str]) -> RunSummary:
    summary = RunSummary(counts={o.value: 0 for o in Outcome})
    ran = {r.case.id for r in results}
    for r in results:
        summary.counts[r.outcome.value] += 1
        if r.outcome is Outcome.ERROR:
            summary.errors.append(r.case.id)
        elif r.outcome is Outcome.FAIL and not r.expected_failure:
            summary.unexpected_failures.append(r.case.id)
        elif r.case.id in expected_failures and r.outcome is Outcome.PASS:
            summary.unexpected_passes.append(r.case.id)
    summary.unknown_expected = sorted(expected_failures - known_ids)
    _ = ran
    return summary
