"""Services: the rules. Each function authorises its actor, then calls crypto, ledger and store."""
