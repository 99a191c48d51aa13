"""`wattgate report`, `wattgate whatif` and `wattgate teams budget`: the report commands,
reading the database directly (same queries as `GET /v1/reports`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import orjson

from proxy.cli import CONTEXT, _settings, _with_engine, cli, format_option, teams
from proxy.render import render


def _period_options(fn: Callable[..., Any], *, until: bool = False) -> Callable[..., Any]:
    end = "--until" if until else "--to"
    for decorator in reversed([
        click.option("--from", "start", metavar="DATE", help="Start (date or ISO date-time, UTC)."),
        click.option(end, "end", metavar="DATE",
                     help="End: a date is included whole; a date-time is exclusive."),
        click.option("--month", metavar="YYYY-MM", help="A calendar month, e.g. 2026-10."),
        click.option("--quarter", metavar="YYYYQn", help="A quarter, e.g. 2026Q3."),
        click.option("--year", metavar="YYYY", help="A calendar year."),
        click.option("--team", help="Only these teams (comma-separated)."),
        click.option("--model", help="Only these models (comma-separated)."),
        click.option("--provider", help="Only these providers (comma-separated)."),
        click.option("--key", help="Only these key ids (comma-separated)."),
    ]):
        fn = decorator(fn)
    return fn


def _until_period_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    return _period_options(fn, until=True)


def _filter(*, start: str | None, end: str | None, month: str | None, quarter: str | None,
            year: str | None, team: str | None, model: str | None, provider: str | None,
            key: str | None) -> Any:
    from proxy.reports.periods import PeriodError, parse_period
    from proxy.reports.queries import ReportFilter, split_list

    try:
        period = parse_period(start=start, end=end, month=month, quarter=quarter, year=year)
    except PeriodError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.param}") from None
    return ReportFilter(period=period, teams=split_list(team), models=split_list(model),
                        providers=split_list(provider), keys=split_list(key))


@cli.command("report", context_settings=CONTEXT)
@_period_options
@click.option("--by", metavar="DIMS",
              help="Group by any of team, model, provider, key, user, day, month "
                   "(comma-separated; user: the end user, hashed unless stored plain).")
@click.option("--esg", is_flag=True,
              help="ESG export (GHG Protocol Scope 3 Cat. 1, SCI); json or csv.")
@click.option("--savings/--no-savings", default=True, show_default=True,
              help="Add the top 5 right-sizing opportunities (table, markdown, json; "
                   "never csv: use `wattgate whatif --format csv`).")
@format_option
@_with_engine
async def report(engine: Any, start: str | None, end: str | None, month: str | None,
                 quarter: str | None, year: str | None, team: str | None, model: str | None,
                 provider: str | None, key: str | None, by: str | None, esg: bool,
                 savings: bool, fmt: str) -> None:
    """Energy, emissions and water of stored calls, per group, for a period (default:
    this month), then the top 5 right-sizing opportunities (see `wattgate whatif`).

    \b
    Examples:
      wattgate report --month 2026-10 --by team,model
      wattgate report --month 2026-10 --team support --by user
      wattgate report --quarter 2026Q3 --team search --format csv
      wattgate report --year 2026 --esg --format json
    """
    from proxy.reports.esg import esg_csv, esg_export
    from proxy.reports.queries import COLUMNS, ReportError, parse_groupings, run_report
    from proxy.reports.rightsizing import add_reduction_opportunities
    from proxy.reports.whatif import savings_section, top_savings

    f = _filter(start=start, end=end, month=month, quarter=quarter, year=year, team=team,
                model=model, provider=provider, key=key)
    try:
        groups = parse_groupings(by)
    except ReportError as exc:
        raise click.BadParameter(str(exc), param_hint="--by") from None
    if esg:
        if fmt not in ("json", "csv"):
            raise click.BadParameter("the ESG export comes as --format json or --format csv",
                                     param_hint="--format")
        export = esg_export(await run_report(engine, f, ("team", "provider")))
        await add_reduction_opportunities(export, engine, f, _settings(click.get_current_context()))
        click.echo(esg_csv(export) if fmt == "csv" else
                   orjson.dumps(export, option=orjson.OPT_INDENT_2).decode(), nl=fmt != "csv")
        return
    result = await run_report(engine, f, groups)
    top = await top_savings(engine, f) if savings and fmt != "csv" else None
    if fmt == "json":
        body = result.to_dict()
        if top is not None:
            body["savings"] = top
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(render(result.rows, fmt, [*groups, *COLUMNS]) + savings_section(top or [], fmt),
               nl=False)


@cli.command("whatif", context_settings=CONTEXT)
@click.option("--to", "to_model", metavar="MODEL",
              help="Compare every call with this model (default: per-family table).")
@click.option("--alt", multiple=True, metavar="MODEL=SMALLER",
              help="Override the default alternative for a model (repeatable).")
@_until_period_options
@format_option
@_with_engine
async def whatif_cmd(engine: Any, to_model: str | None, alt: tuple[str, ...], **kwargs: Any
                     ) -> None:
    """Right-sizing: the energy and emissions of a team's calls now, and on a smaller model
    (same tokens). The period ends with --until here, since --to names the model.

    \b
    Examples:
      wattgate whatif --team search --month 2026-10
      wattgate whatif --team search --to gpt-4.1-nano
    """
    from proxy.reports.whatif import COLUMNS, parse_overrides, whatif

    fmt = kwargs.pop("fmt")
    f = _filter(**kwargs)
    try:
        overrides = parse_overrides(alt)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--alt") from None
    rows = await whatif(engine, f, to=to_model, overrides=overrides)
    click.echo(render(rows, fmt, COLUMNS), nl=False)


@teams.command("budget", context_settings=CONTEXT)
@click.argument("name")
@click.option("--soft-gco2e", type=float, help="Soft monthly budget, gCO2e (warns).")
@click.option("--hard-gco2e", type=float, help="Hard monthly budget, gCO2e (429 when over).")
@click.option("--soft-wh", type=float, help="Soft monthly budget, Wh (warns).")
@click.option("--hard-wh", type=float, help="Hard monthly budget, Wh (429 when over).")
@click.option("--clear", is_flag=True, help="Remove the team's budget.")
@format_option
@_with_engine
async def teams_budget(engine: Any, name: str, soft_gco2e: float | None,
                       hard_gco2e: float | None, soft_wh: float | None, hard_wh: float | None,
                       clear: bool, fmt: str) -> None:
    """Show or set team NAME's monthly budgets (UTC months; gateways apply changes within
    seconds). Without limits, shows the current budget and this month's usage."""
    from proxy.budgets import BudgetGuard
    from proxy.store.budgets import Budget, load_budgets, put_budget
    from proxy.store.keys import list_teams

    if name not in {t.name for t in await list_teams(engine)}:
        raise click.ClickException(f"team '{name}' does not exist")
    limits = (soft_gco2e, hard_gco2e, soft_wh, hard_wh)
    if any(v is not None and v < 0 for v in limits):
        raise click.BadParameter("budgets must be >= 0")
    if clear or any(v is not None for v in limits):
        current = (await load_budgets(engine)).get(name, Budget(team=name))
        budget = Budget(team=name) if clear else Budget(
            team=name,
            soft_gco2e=soft_gco2e if soft_gco2e is not None else current.soft_gco2e,
            hard_gco2e=hard_gco2e if hard_gco2e is not None else current.hard_gco2e,
            soft_wh=soft_wh if soft_wh is not None else current.soft_wh,
            hard_wh=hard_wh if hard_wh is not None else current.hard_wh)
        await put_budget(engine, budget)
    guard = BudgetGuard(engine)
    await guard.refresh()
    click.echo(render([guard.state(name).to_dict()], fmt), nl=False)
