"""Cases: open one, read its progress, give it what it lacks, close it, list the
worklist. The API's controllers and the clerk's console pages both go through
gateway.cases.service, so the two never drift apart."""
