"""Client mode: one run of client cases, the runner listening as the server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .client_context import ClientCaseContext, ClientRunState
from .listener import ClientControl, ExecClient, Listener, ManualClient, server_tls_context
from .model import Case, CaseResult
from .profile import Profile
from .runner import run_cases

__all__ = ["run_client_cases"]


async def run_client_cases(
    cases: list[Case],
    *,
    listen: tuple[str, int],
    profile: Profile,
    scale: float = 1.0,
    expected_failures: set[str] | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
    on_listening: Callable[[str, int], None] | None = None,
    say: Callable[[str], None] | None = None,
    client_log: Path | None = None,
) -> list[CaseResult]:
    """Listen on ``listen`` (port 0: any), start the client (profile ``[client] exec``) or ask for it, run ``cases``."""
    listener = Listener(*listen, server_tls_context(profile))
    host, port = await listener.start()
    if on_listening is not None:
        on_listening(host, port)
    command = profile.client.exec
    control: ClientControl = (
        ExecClient(command, host=host, port=port, log_path=client_log)
        if command
        else ManualClient(host=host, port=port, say=say)
    )
    state = ClientRunState(server_instance_id=profile.client.server_instance_id)

    def context(case: Case) -> ClientCaseContext:
        return ClientCaseContext(
            listener=listener,
            control=control,
            profile=profile,
            state=state,
            case_id=case.id,
            scale=scale,
            drain=command is not None,
            version_0_server=profile.has("client_v1") and case.feature != "client_v1",
        )

    try:
        return await run_cases(
            cases,
            host=host,
            port=port,
            profile=profile,
            scale=scale,
            expected_failures=expected_failures,
            on_result=on_result,
            context_factory=context,
        )
    finally:
        await control.stop()
        await listener.close()
