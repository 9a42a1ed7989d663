"""The stack's scheduler adds the task SDK's masking processor to its log chain, once, before the renderer.

That this masks the scheduler's copy of task output for real is the leak audit's check
(tests/test_leak_audit.py, through the running stack); this is the chain arithmetic.
"""

from __future__ import annotations

from devstack.masked_scheduler import add_masking


def test_masking_goes_just_before_the_renderer_and_only_once() -> None:
    def mask() -> None: ...

    chain = add_masking(["timestamp", "level", "render"], mask)
    assert chain == ["timestamp", "level", mask, "render"]
    assert add_masking(chain, mask) == chain
