"""axe-core in a Playwright page: the WCAG 2.1 A and AA rules run on what the page shows.

axe-core comes from npm, pinned by package.json and package-lock.json (`make node-deps`
installs it). The portal's Content-Security-Policy allows no inline script, so the
library is not added as a <script> element: its source is evaluated through Playwright's
DevTools connection, which the page's policy does not govern, and the page itself is left
exactly as the portal serves it.
"""

from functools import cache
from pathlib import Path

import pytest

AXE_SOURCE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")


@cache
def _axe_source() -> str:
    if not AXE_SOURCE.exists():
        pytest.fail(f"{AXE_SOURCE} is missing: `make node-deps` installs axe-core from package-lock.json")
    return AXE_SOURCE.read_text()


def axe_violations(page, *, tags=WCAG_21_AA) -> list[dict]:
    """The violations axe-core finds in ``page`` as it stands, for the rules tagged ``tags``
    (WCAG 2.1 A and AA): each a dict of ``id``, ``impact``, ``help`` and ``nodes`` (each
    node with its ``target`` selectors and axe's ``failureSummary``)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    return page.evaluate(
        """async (tags) => {
            const result = await window.axe.run(document, {runOnly: {type: "tag", values: tags},
                                                          resultTypes: ["violations"]});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target, html: n.html, failureSummary: n.failureSummary}))}));
        }""",
        list(tags),
    )


def violations_report(violations: list[dict]) -> str:
    """One block per rule: its id, impact and help, then each node's selector and why it fails."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {target}  {summary}")
    return "\n".join(lines)


def assert_no_violations(page, where: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core, WCAG 2.1 A/AA, on {where} ({page.url}):\n{violations_report(violations)}"
