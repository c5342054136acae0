"""Policy: which shares are lawful. Files under policies/ are parsed at start-up into frozen objects."""
