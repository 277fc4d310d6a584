"""Who holds whose money and minutes: the double-entry ledger, wallets and stock, prices and
their tiers, bundles, remittances, onboarding fees and idempotent money operations."""
