"""A world with more alerts than one page holds, for the tests of the 1,000-alert cap."""


def raise_1005_alerts(world) -> None:
    """Five balance crossings a round, re-armed by buying the credits back: 201 rounds."""
    owner, member = world.session("ann"), world.session("cat")
    owner.configure_alerts("acme", balance_below=[900, 800, 700, 600, 500],
                           member_usage_percent=[])
    for n in range(201):
        member.record_usage("acme", 600, campaign="c", idempotency_key=f"u{n}")
        owner.purchase_credits("acme", 600, idempotency_key=f"b{n}")
