"""Activities: the workflow's calls to agencies and to the friction store."""
