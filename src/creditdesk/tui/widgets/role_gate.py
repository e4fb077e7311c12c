"""RoleGate: wraps controls a role may not use, disabling them with a visible reason."""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Label

from ..permissions import ROLE_NEEDED, role_allows, role_reason, role_refusal


class RoleGate(Widget):
    """`RoleGate("purchase_credits", Button(...), Input(...))` lays its controls out in a row,
    followed by a label. `apply(role)` disables the controls when the role may not perform
    the action, sets the reason ("Owner only") as visible text in the label and as every
    control's tooltip. Keyboard users never see hover tooltips, hence the visible label.

    BillingScreen calls `apply` on every RoleGate whenever the context changes."""

    DEFAULT_CSS = """
    RoleGate { height: auto; layout: horizontal; }
    RoleGate.-vertical { layout: vertical; }
    RoleGate > .role-reason { display: none; color: $text-warning; margin: 0 1; }
    RoleGate.-refused > .role-reason { display: block; }
    """

    def __init__(self, action: str, *controls: Widget, vertical: bool = False,
                 id: str | None = None, classes: str | None = None) -> None:
        if action not in ROLE_NEEDED:
            raise ValueError(f"unknown action {action!r}")
        super().__init__(*controls, id=id, classes=classes)
        self.action = action
        self.set_class(vertical, "-vertical")
        self.allowed = False

    def compose(self):
        yield Label(role_reason(self.action), classes="role-reason")

    def apply(self, role: str | None) -> None:
        self.allowed = role_allows(role, self.action)
        # With no role yet (still loading) the controls stay disabled but no reason shows:
        # an owner must not see "Owner only" flash before their role is known.
        refused = role is not None and not self.allowed
        self.set_class(refused, "-refused")
        reason = role_refusal(self.action, role) if refused else None
        for child in self.children:
            if not child.has_class("role-reason"):
                child.disabled = not self.allowed
        # Every control inside carries the reason, whichever one the pointer rests on.
        for widget in self.query("*"):
            widget.tooltip = reason
