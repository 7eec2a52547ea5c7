"""The error notebook (错题本): friction events from every channel, stored once, grouped
into stuck points and ranked by the citizen and clerk minutes they cost.

`events` is the schema, `ingest` the one path every producer goes through (privacy checks,
masking), `store` the interface and `sqlite_store` its embedded implementation, `burden`
the minutes each kind of friction costs, `stuck_points` the ranked rollup and `cli` the
backlog table.
"""
