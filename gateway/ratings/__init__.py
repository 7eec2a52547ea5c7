"""The citizens' ratings (好差评) over HTTP: rating a visit from any channel, a case's
ratings and follow-ups, and the follow-ups a centre answers."""
