"""Subscriber accounts (open, suspend, close), balances, the portal, the switch API's calls and rating."""
