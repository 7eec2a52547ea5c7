"""The error notebook (错题本): friction events from every channel, stored once, grouped
into stuck points and ranked by the citizen and clerk minutes they cost.

`events` is the schema, `ingest` the one path every producer goes through (privacy checks,
masking), `store` the storage split by concern (each part's Protocol, answers and SQL),
with `sqlite_store` (embedded) and `postgres_store` (a city or province) choosing the
database and `stores` choosing between them, `burden` the minutes each kind of friction
costs, `stuck_points` the ranked rollup, `backlog` and `verification` the remediation
lifecycle and the data's verdict on a fix, `register` the can't-get-it-done register,
`reports` and `ocel` what the data bureau and process miners read, `notebook` the loop
over any store, and `cli` the terminal's view of it.
"""
