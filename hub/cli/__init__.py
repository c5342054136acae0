"""The ``mappa-hub`` command line for operators.

Start-up: each run builds the whole parser but does one command, so the command modules import
at their top only what the parser and the hub's opening need (``hub.wiring`` builds services on
first use), and each command imports the services and adapters it runs inside its function. With
everything imported at the top, ``mappa-hub agency list`` spent over a second importing modules
it never used before it opened the database.
"""
