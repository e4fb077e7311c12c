"""Pages in the engine (issue 9, the server's shape): `members` and `invoices` take
keyword-only `offset`/`limit`, the store reads only the page, and the answer says how many
there are in all (`total`, the HTTP X-Total-Count). The positional forms are unchanged."""

from __future__ import annotations

import pytest

from creditdesk.errors import InvalidRequest, NotFound, PermissionDenied


def test_member_pages_cover_the_list_in_order(world):
    engine = world.engine
    for n in range(7):
        engine.add_user(f"m{n}", name=f"M {n}", email=f"m{n}@example.com", plan="starter")
        engine.add_member("acme", f"m{n}", role="member")
    ann = world.session("ann")
    everyone = ann.members("acme")
    assert len(everyone) == 10 and everyone.total == 10
    pages = [ann.members("acme", offset=start, limit=4) for start in (0, 4, 8)]
    assert [len(page) for page in pages] == [4, 4, 2]
    assert {page.total for page in pages} == {10}
    assert [m for page in pages for m in page] == everyone
    beyond = ann.members("acme", offset=10**30, limit=10**30)    # no SQL overflow
    assert list(beyond) == [] and beyond.total == 10


def test_invoice_pages_are_newest_first(world, keys):
    ann = world.session("ann")
    for credits in (200, 400, 600, 800, 1_000):
        ann.purchase_credits("acme", credits, idempotency_key=keys())
    everyone = ann.invoices("acme")
    assert [i.created_at for i in everyone] == sorted((i.created_at for i in everyone),
                                                     reverse=True)
    first, second = ann.invoices("acme", limit=3), ann.invoices("acme", offset=3, limit=3)
    assert list(first) + list(second) == everyone
    assert first.total == second.total == len(everyone)
    assert [i.credits for i in ann.invoices("acme", offset=1, limit=2)] == \
        [i.credits for i in everyone[1:3]]


@pytest.mark.parametrize(("offset", "limit", "field"), [
    (-1, 10, "offset"), ("0", 10, "offset"), (True, 10, "offset"), (0, 0, "limit"),
    (0, -5, "limit"), (0, 2.5, "limit")])
def test_a_bad_page_is_refused_naming_the_field(world, offset, limit, field):
    ann = world.session("ann")
    for method in (ann.members, ann.invoices):
        with pytest.raises(InvalidRequest) as refused:
            method("acme", offset=offset, limit=limit)
        assert refused.value.field == field


def test_access_is_checked_before_the_page(world):
    with pytest.raises(NotFound):
        world.session("dan").members("acme", offset=-1)
    with pytest.raises(PermissionDenied):
        world.session("cat").members("acme", limit=0)
    with pytest.raises(PermissionDenied):
        world.session("bob").invoices("acme", limit=0)       # invoices: owners only
