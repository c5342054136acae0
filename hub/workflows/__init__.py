"""MAPPA workflows: the forms packets carry and the timescales they run to."""
