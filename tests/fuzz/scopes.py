"""Which modules atheris instruments for each target of ``fuzz_targets`` (imports nothing of the
hub: the runner reads it before the target's modules are imported, instrumented)."""

from __future__ import annotations

# The modules each target's coverage is measured in (atheris instruments only these: instrumenting
# the whole hub costs seconds at start-up and dilutes the signal with code the target never runs).
SCOPES: dict[str, tuple[str, ...]] = {
    "envelope": ("hub.crypto",),
    "header": ("hub.crypto", "hub.services.sealed"),
    "manifest": ("hub.crypto",),
    "policy": ("hub.policy",),
    "casetable": ("hub.policy",),
    "visor": ("adapters.visor",),
    "form": ("hub.web.formfields", "hub.workflows"),
    "bundle_tar": ("adapters.transfer", "bagit"),
    "bundle_docs": ("hub.services.transfer_bundle_shape",),
}
