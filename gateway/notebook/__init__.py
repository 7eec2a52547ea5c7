"""The friction notebook over the gateway: the ranked backlog with its lifecycle, a stuck
point's evidence and trend, clerks' notes on a case, reports, the event log as OCEL 2.0
and the ingest of channels outside Temporal. The work is friction.notebook's;
gateway.notebook.service maps it for the API and the console pages alike."""
