"""The HTTP face of onething: translates requests into workflow calls and store reads."""
