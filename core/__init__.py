"""The kernel every package may import: database engines and transactions, fixed SQL, domain
errors, the clock, input validation, units, uploads and password hashing. It has no tables and
no domain words, and imports no other package of the project."""
