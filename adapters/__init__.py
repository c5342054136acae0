"""Adapters carry packets out of the hub: email (aiosmtplib), ViSOR-style export, case-transfer
bundles. Each depends on the services' interfaces, never the other way round.

Nothing is implemented here yet: the first adapter arrives with the email issue. The package exists
so that the distribution's layout is the one DESIGN.md fixes.
"""
