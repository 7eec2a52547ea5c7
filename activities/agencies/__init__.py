"""The agency simulator and its synthetic population."""
