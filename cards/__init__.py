"""Card batches, e-cards, recharge cards, code generation, sealing and export of secrets, redemption."""
