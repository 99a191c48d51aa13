"""`wattgate rightsize`: the right-sizing report, reading the database directly (same
figures as `GET /v1/rightsizing`)."""

from __future__ import annotations

from typing import Any

import click

from proxy.cli import CONTEXT, _settings, _with_engine, cli, format_option
from proxy.cli_reports import _filter, _period_options


@cli.command("rightsize", context_settings=CONTEXT)
@_period_options
@click.option("--evidence", is_flag=True,
              help="Only the shadow-evaluation evidence table (agreement per team, task and "
                   "candidate, with its 95% Wilson interval and the shadow calls' energy).")
@format_option
@_with_engine
async def rightsize(engine: Any, evidence: bool, fmt: str, **selection: Any) -> None:
    """Where a smaller model would do: per team, model and task shape, the calls, their
    energy and emissions, what each candidate model class (config `rightsizing:`) would
    use on the same tokens and site, the recommended one and the saving; then the shadow
    evaluation evidence, if any. Default period: this month.

    \b
    Examples:
      wattgate rightsize --month 2026-10
      wattgate rightsize --team support --format markdown
      wattgate rightsize --evidence --format csv
    """
    from proxy.reports.rightsizing import render_report, rightsizing_report

    settings = _settings(click.get_current_context())
    report = await rightsizing_report(engine, _filter(**selection), config=settings.rightsizing,
                                      deployments=settings.deployments)
    click.echo(render_report(report, fmt, evidence_only=evidence), nl=False)
