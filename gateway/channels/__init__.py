"""The online channel: its service catalogue (one TOML file a channel and version, in
this folder; current.toml names the version running now) and what a start through one
of its entries tells the notebook."""
