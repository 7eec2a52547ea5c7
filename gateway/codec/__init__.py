"""Temporal's remote codec protocol over HTTP, for the Temporal web UI and CLI: payloads
sealed by kernel.codec opened (and sealed) with the installation's keys, for admins only,
each call recorded in the access log."""
