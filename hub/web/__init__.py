"""The web edge: server-rendered inbox. Authenticates, validates, calls one service, renders."""
