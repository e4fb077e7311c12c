"""The Usage screen: ranges, buckets and splits, and a table that shows the backend's figures."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.widgets import DataTable, Input, Select

from creditdesk.models import UsagePoint, UsageSeries
from creditdesk.tui.screens.usage import (
    FOLD_IN_THREAD_POINTS,
    CustomRangeForm,
    UsageScreen,
    build_query,
    fold,
    parse_custom_range,
    range_bounds,
)
from creditdesk.tui.widgets.usage_chart import (
    OTHER,
    UsageChart,
    bucket_starts,
    nice_step,
    tabulate_usage,
)

from .pilot_helpers import NOW, SIZE, screen_text, settle


def number(text: str) -> int:
    return int(text.replace(",", ""))


def table_rows(app) -> tuple[list[str], list[list[str]]]:
    """(column titles, rows of plain cell text) of the usage table."""
    grid = app.screen.query_one("#table", DataTable)
    titles = [str(getattr(c.label, "plain", c.label)) for c in grid.columns.values()]
    rows = [[str(getattr(v, "plain", v)) for v in grid.get_row_at(i)]
            for i in range(grid.row_count)]
    return titles, rows


def engine_figures(world, query) -> dict[datetime, dict[str, int]]:
    series = world.engine.session(world.owner).usage_history(
        world.org_id, start=query.start, end=query.end, granularity=query.granularity,
        group_by=query.group_by)
    figures: dict[datetime, dict[str, int]] = defaultdict(dict)
    for point in series.points:
        figures[point.start][point.key] = point.credits
    return figures


async def open_usage(pilot) -> UsageScreen:
    await settle(pilot)
    await pilot.press("u")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, UsageScreen)
    return screen


def series(points, *, group_by="member", granularity="day", start=None, end=None):
    start = start or datetime(2026, 11, 1, tzinfo=UTC)
    end = end or datetime(2026, 11, 8, tzinfo=UTC)
    return UsageSeries(account_id="acme", start=start, end=end, granularity=granularity,
                       group_by=group_by,
                       points=[UsagePoint(start=s, key=k, credits=c) for s, k, c in points])


# --- the pure parts -------------------------------------------------------------------------

def test_ranges_end_after_today_and_start_on_whole_buckets() -> None:
    assert range_bounds("7d", NOW) == (datetime(2026, 11, 9, tzinfo=UTC),
                                       datetime(2026, 11, 16, tzinfo=UTC))
    assert range_bounds("12m", NOW)[0] == datetime(2025, 12, 1, tzinfo=UTC)
    # 2026-10-17 is a Saturday: per week the range starts on the Monday before.
    weekly = build_query("30d", "week", "source", NOW)
    assert weekly.start == datetime(2026, 10, 12, tzinfo=UTC) and weekly.start.weekday() == 0
    assert build_query("7d", "month", "source", NOW).start == datetime(2026, 11, 1, tzinfo=UTC)
    custom = build_query("custom", "day", "member", NOW, (date(2026, 1, 30), date(2026, 2, 2)))
    assert (custom.start, custom.end) == (datetime(2026, 1, 30, tzinfo=UTC),
                                          datetime(2026, 2, 3, tzinfo=UTC))


def test_month_buckets_cross_the_year() -> None:
    starts = bucket_starts(datetime(2025, 11, 20, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC),
                           "month")
    assert [s.strftime("%Y-%m") for s in starts] == ["2025-11", "2025-12", "2026-01", "2026-02"]


@pytest.mark.parametrize("first, last, first_error, last_error", [
    ("2026-10-01", "2026-10-31", "", ""),
    ("2026-13-01", "2026-10-31", "YYYY-MM-DD", ""),
    ("2026-10-01", "31/10/2026", "", "YYYY-MM-DD"),
    ("2026-10-31", "2026-10-01", "", "before the first day"),
    ("2026-12-01", "2026-12-31", "in the future", ""),
    ("2010-01-01", "2026-10-31", "", "At most 3,650 days"),
])
def test_custom_range_says_which_date_is_wrong(first, last, first_error, last_error) -> None:
    got_first, got_last, first_says, last_says = parse_custom_range(first, last, NOW.date())
    assert (first_error in first_says) and (bool(first_says) == bool(first_error))
    assert (last_error in last_says) and (bool(last_says) == bool(last_error))
    assert (got_first is not None and got_last is not None) == (not first_error
                                                                and not last_error)


def test_sparse_points_become_every_bucket_in_order() -> None:
    day = datetime(2026, 11, 3, tzinfo=UTC)
    table = tabulate_usage(series([(day, "purchased", 5), (day, "base", 7)],
                                  group_by="source"))
    assert table.keys == ("base", "rollover", "purchased")
    assert len(table.buckets) == 7 and table.buckets[0] == datetime(2026, 11, 1, tzinfo=UTC)
    assert table.rows[2] == (7, 0, 5) and sum(map(sum, table.rows)) == 12


def test_small_keys_fold_into_other_with_their_count() -> None:
    day = datetime(2026, 11, 2, tzinfo=UTC)
    points = [(day, f"user{n}", 100 - n) for n in range(8)]
    table = tabulate_usage(series(points), names={"user0": "Ann Lee"}, top=3)
    assert table.keys == ("user0", "user1", "user2", OTHER)
    assert table.labels == ("Ann Lee", "user1", "user2", "other (5)")
    assert table.key_totals == [100, 99, 98, sum(100 - n for n in range(3, 8))]
    # One key more than the top is shown by name: "other (1)" would only hide it.
    assert OTHER not in tabulate_usage(series(points[:4]), top=3).keys


def test_a_campaign_called_other_keeps_its_own_column() -> None:
    day = datetime(2026, 11, 2, tzinfo=UTC)
    points = [(day, "other", 500), *((day, f"c{n}", 10 + n) for n in range(4))]
    table = tabulate_usage(series(points, group_by="campaign"), top=2)
    assert table.labels == ("other", "c3", "other (3)")
    assert table.rows[1] == (500, 13, 10 + 11 + 12) and table.folded == 3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from("abcdefgh"),
                          st.integers(1, 10**9)), max_size=30),
       st.sampled_from(["day", "week", "month"]))
def test_tabulating_never_loses_or_invents_credits(raw, granularity) -> None:
    merged: dict[tuple[datetime, str], int] = defaultdict(int)
    for offset, key, credits in raw:
        start = datetime(2026, 11, 1 + offset, tzinfo=UTC)
        bucket = {"day": start, "week": start - timedelta(days=start.weekday()),
                  "month": start.replace(day=1)}[granularity]
        merged[bucket, key] += credits
    points = sorted((s, k, c) for (s, k), c in merged.items())
    table = tabulate_usage(series(points, granularity=granularity))
    assert table.total == sum(merged.values())
    assert list(table.buckets) == sorted(table.buckets)
    for bucket, total in zip(table.buckets, table.bucket_totals):
        assert total == sum(c for (s, _), c in merged.items() if s == bucket)


async def test_a_big_answer_is_folded_the_same_off_the_event_loop() -> None:
    days = [datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=n) for n in range(7)]
    per_day = FOLD_IN_THREAD_POINTS // len(days) + 1
    points = [(day, f"user{k:05d}", 1 + (k * 7 + n) % 50) for n, day in enumerate(days)
              for k in range(per_day)]
    big = series(points)
    assert len(big.points) >= FOLD_IN_THREAD_POINTS
    folded = await fold(big, {"user00000": "Ann Lee"})
    assert folded == tabulate_usage(big, names={"user00000": "Ann Lee"})
    assert folded.total == sum(c for _, _, c in points) and folded.folded == per_day - 5


def test_y_ticks_are_round_numbers() -> None:
    assert [nice_step(p, 4) for p in (7, 95, 12_400, 990_000)] == [2, 50, 5_000, 500_000]


def test_the_screen_module_does_not_load_plotext() -> None:
    # The app imports a screen on first show; plotext waits until the chart is composed.
    script = ("import sys, creditdesk.tui.screens.usage\n"
              "print('plotext' in sys.modules or 'textual_plotext' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# --- the screen -----------------------------------------------------------------------------

async def test_table_shows_the_backends_daily_figures_by_source(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        query = screen.query_shown
        assert (query.granularity, query.group_by) == ("day", "source")
        assert query == build_query("30d", "day", "source", NOW)
        titles, rows = table_rows(app)
        assert titles == ["Day", "base", "rollover", "purchased", "Total"]
        expected = engine_figures(demo_world, query)
        assert len(rows) == 30 + 1  # every day, with or without usage, then the total row
        for row in rows[:-1]:
            day = datetime.fromisoformat(row[0]).replace(tzinfo=UTC)
            want = expected.get(day, {})
            assert [number(v) for v in row[1:4]] == [want.get(k, 0) for k in
                                                       ("base", "rollover", "purchased")]
            assert number(row[4]) == sum(want.values())
        grand = sum(sum(v.values()) for v in expected.values())
        assert rows[-1][0] == "Total" and number(rows[-1][-1]) == grand > 0
        assert f"{grand:,} credits" in screen_text(app)


async def test_keys_switch_to_weeks_and_members(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert screen.query_one("#granularity", Select).value == "week"
        await pilot.press("b")
        await settle(pilot)
        query = screen.query_shown
        assert (query.granularity, query.group_by) == ("week", "member")
        titles, rows = table_rows(app)
        assert titles[0] == "Week of" and titles[-2].startswith("other (")
        names = {m.name: m.user_id for m in
                 demo_world.engine.session(demo_world.owner).members(demo_world.org_id)}
        expected = engine_figures(demo_world, query)
        for row in rows[:-1]:
            week = datetime.fromisoformat(row[0]).replace(tzinfo=UTC)
            assert week.weekday() == 0
            want = expected.get(week, {})
            named = [number(row[i]) for i in range(1, len(titles) - 2)]
            assert named == [want.get(names[t], 0) for t in titles[1:-2]]
            assert number(row[-1]) == sum(want.values())
            assert number(row[-2]) == sum(want.values()) - sum(named)
        # The five members shown are the five who used the most in the range.
        totals = defaultdict(int)
        for figures in expected.values():
            for key, credits in figures.items():
                totals[key] += credits
        top = sorted(totals, key=lambda k: (-totals[k], k))[:5]
        assert [names[t] for t in titles[1:-2]] == top


async def test_select_changes_the_range_and_campaign_split(make_app, demo_world) -> None:
    app = make_app("admin")
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_usage(pilot)
        screen.query_one("#range", Select).value = "12m"
        screen.query_one("#granularity", Select).value = "month"
        screen.query_one("#group-by", Select).value = "campaign"
        await settle(pilot)
        query = screen.query_shown
        assert query == build_query("12m", "month", "campaign", NOW)
        titles, rows = table_rows(app)
        assert [r[0] for r in rows[:-1]] == [f"{m:%Y-%m}" for m in
                                             bucket_starts(query.start, query.end, "month")]
        expected = engine_figures(demo_world, query)
        assert [number(r[-1]) for r in rows[:-1]] == [
            sum(expected.get(datetime.fromisoformat(r[0] + "-01").replace(tzinfo=UTC),
                             {}).values()) for r in rows[:-1]]
        assert set(titles[1:-1]) <= set(demo_world.campaigns) | {t for t in titles
                                                                 if t.startswith("other")}


async def test_custom_range_is_checked_before_it_is_used(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        before = screen.query_shown
        await pilot.press("x")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, CustomRangeForm)
        form.query_one("#first", Input).value = "2026-10-31"
        form.query_one("#last", Input).value = "2026-10-01"
        await pilot.pause()
        assert "before the first day" in screen_text(app)
        assert form.query_one("#apply").disabled
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form and screen.query_shown == before  # nothing changed
        form.query_one("#last", Input).value = "2026-11-04"
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.query_one("#range", Select).value == "custom"
        query = screen.query_shown
        assert (query.start, query.end) == (datetime(2026, 10, 31, tzinfo=UTC),
                                            datetime(2026, 11, 5, tzinfo=UTC))
        _, rows = table_rows(app)
        assert [r[0] for r in rows] == ["2026-10-31", "2026-11-01", "2026-11-02",
                                        "2026-11-03", "2026-11-04", "Total"]
        expected = engine_figures(demo_world, query)
        assert number(rows[-1][-1]) == sum(sum(v.values()) for v in expected.values())


async def test_chart_draws_bars_or_lines_with_a_legend(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        chart = screen.query_one(UsageChart)
        # 30 days do not fit as bars in 80 columns: one line per source.
        assert not chart.is_bars
        legend = str(chart.query_one("#chart-legend").render())
        assert "base" in legend and "purchased" in legend
        await pilot.press("g")
        await settle(pilot)
        assert chart.is_bars and chart.query_one("#chart-plot").display


async def test_member_sees_only_their_own_use(make_app, demo_world) -> None:
    app = make_app("member")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        mine = demo_world.engine.session(demo_world.member).my_usage(demo_world.org_id)
        text = screen_text(app)
        assert "Usage history of Acme Robotics is for admins and owners" in text
        assert f"{mine.used_this_period:,} credits" in text
        assert not screen.query_one("#table").display
        assert not screen.query_one("#chart").display


async def test_palette_offers_every_choice(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        titles = [title for title, _, _ in screen.palette_commands()]
        assert {"Usage: per month", "Usage: by campaign", "Usage: last 90 days",
                "Usage: custom range"} <= set(titles)
        await app.run_palette_action(screen, "choose('group-by', 'campaign')")
        await settle(pilot)
        assert screen.query_shown.group_by == "campaign"
        assert isinstance(app.screen, UsageScreen)


async def test_cancelling_a_custom_range_picked_in_the_list_goes_back(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        await pilot.press("d")  # last 90 days
        await settle(pilot)
        before = screen.query_shown
        screen.query_one("#range", Select).value = "custom"
        await settle(pilot)
        assert isinstance(app.screen, CustomRangeForm)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert screen.query_one("#range", Select).value == "90d"
        assert screen.query_shown == before == build_query("90d", "day", "source", NOW)


async def test_a_new_members_name_is_fetched_when_they_show_up(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        await pilot.press("b")
        await settle(pilot)
        engine = demo_world.engine
        engine.add_user("newbie", name="Nia Newcomer", email="nia@example.com",
                        plan=engine.session(demo_world.owner).plans()[0].id)
        engine.add_member(demo_world.org_id, "newbie", role="member")
        engine.session("newbie").record_usage(demo_world.org_id, 50_000, campaign="launch",
                                              idempotency_key="nia-1")
        app.record_change("Nia used credits")
        await settle(pilot)
        titles, _ = table_rows(app)
        assert titles[1] == "Nia Newcomer"


async def test_a_range_without_usage_says_so(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        screen.custom = (date(2025, 1, 1), date(2025, 1, 7))  # before the org existed
        screen.query_one("#range", Select).value = "custom"
        await settle(pilot)
        # Dates were already chosen, but picking "Custom range…" asks again, pre-filled.
        assert isinstance(app.screen, CustomRangeForm)
        assert app.screen.query_one("#first", Input).value == "2025-01-01"
        await pilot.press("enter")
        await settle(pilot)
        chart = screen.query_one(UsageChart)
        assert not chart.query_one("#chart-plot").display
        assert "No usage in this range." in screen_text(app)
        _, rows = table_rows(app)
        assert len(rows) == 8 and all(number(v) == 0 for r in rows for v in r[1:])


async def test_members_chart_keys_are_dimmed_and_refused(make_app) -> None:
    app = make_app("member")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        assert screen.check_action("cycle_granularity", ()) is None
        await pilot.press("x")
        await settle(pilot)
        assert app.screen is screen  # no custom range form
        assert screen.query_one("#granularity", Select).value == "day"


async def test_switching_context_shows_that_accounts_usage(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        await pilot.press("b")  # by member: the org's members
        await settle(pilot)
        personal = demo_world.personal_account_id
        await app.run_action(f"switch_context({personal!r})")
        await settle(pilot)
        query = screen.query_shown
        series = demo_world.engine.session(demo_world.owner).usage_history(
            personal, start=query.start, end=query.end, granularity=query.granularity,
            group_by=query.group_by)
        titles, rows = table_rows(app)
        assert number(rows[-1][-1]) == sum(p.credits for p in series.points) > 0
        assert titles[1:-1] == ["Ann Lee"]  # only she spends her personal credits


def test_keys_the_backend_already_folded_stay_in_the_other_column() -> None:
    # The screen asks the backend for the top keys only; its "(other)" sum and count must
    # land in the "other" column, never as a member called "(other)".
    from creditdesk.models import OTHER_KEY

    day = datetime(2026, 11, 2, tzinfo=UTC)
    folded = series([(day, "ann", 500), (day, "bob", 300), (day, OTHER_KEY, 70)])
    folded = folded.model_copy(update={"folded": 12})
    table = tabulate_usage(folded, top=5)
    assert table.keys[:2] == ("ann", "bob") and table.folded == 12
    assert table.labels[-1] == "other (12)"
    row = table.rows[table.buckets.index(day)]
    assert row == (500, 300, 70)
    assert table.total == 870


async def test_the_member_split_asks_the_backend_for_the_top_keys_only(
        make_app, demo_world) -> None:
    asked = []
    app = make_app("owner")
    backend = app.backend
    original = backend.usage_history

    async def spy(*args, **kwargs):
        asked.append((kwargs.get("group_by"), kwargs.get("top")))
        return await original(*args, **kwargs)

    backend.usage_history = spy
    async with app.run_test(size=SIZE) as pilot:
        await app.run_action("switch_mode('usage')")
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
    assert ("source", None) in asked
    assert any(group == "member" and top for group, top in asked)


async def test_export_writes_the_table_under_the_chart(make_app, tmp_path) -> None:
    import csv

    from textual.widgets import Input

    from creditdesk.tui.widgets.export_form import ExportForm

    app = make_app("owner")
    target = tmp_path / "usage.csv"
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        table = app.screen.usage_table
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportForm)
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["day_start_utc", *table.labels, "total"]
    assert rows[1][0] == f"{table.buckets[0]:%Y-%m-%d}T00:00:00Z"
    assert [int(cell) for cell in rows[-1][1:]] == [*table.rows[-1], table.bucket_totals[-1]]


async def test_custom_range_header_lines_up_with_its_rows_at_once(make_app) -> None:
    """Item 17: the header drawn right after the table is filled (as a real terminal
    repaints when the custom-range form closes, before DataTable's next idle) keeps the
    column widths it was drawn with; it must already line up with the rows."""
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage(pilot)
        await pilot.press("b")  # by member: titles (names) narrower or wider than figures
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        app.screen.query_one("#first", Input).value = "2026-10-31"
        app.screen.query_one("#last", Input).value = "2026-11-04"
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_shown.start == datetime(2026, 10, 31, tzinfo=UTC)
        grid = screen.query_one("#table", DataTable)
        screen.show_table(screen.query_shown, screen.usage_table)
        grid.render_line(0)  # the repaint before the idle that would measure the cells
        await settle(pilot)
        grid.scroll_home(animate=False, immediate=True)
        await settle(pilot)
        header, first_row = grid.render_line(0).text, grid.render_line(1).text
        day = "2026-10-31"
        assert day in first_row
        for title in screen.usage_table.labels[:2]:
            shown = title[:8]  # a long name may be cut at the column's edge
            # Right-aligned titles end where the figures beneath them end.
            end = header.index(shown) + len(shown)
            assert header.index(shown) > first_row.index(day) + len(day), (header, first_row)
            if shown == title:
                assert first_row[end - 1] != " ", (header, first_row)
