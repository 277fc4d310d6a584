"""Subscriber accounts, balances, calls and rating (tables come with the cards and subscribers issue)."""
