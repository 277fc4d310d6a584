"""Card batches, e-cards, recharge cards and redemption (tables come with the cards issue)."""
