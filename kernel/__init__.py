"""The shared kernel: what every layer shares and none owns. China time, case numbers,
the data converter, privacy checks, pseudonyms and the friction event schema. Workflows,
activities, the gateway and the notebook all import it; it imports none of them."""
