"""The simulation, apart from the product: the agencies' simulator (real HTTP services with
settable latency and faults, replaceable by a real endpoint through configuration), the
synthetic population they know, the simulated window clerk and the demo that drives them.

The worker and the gateway never import this package; `onething up` starts the simulator
as one more local process, and the tests and benchmarks use it as their city.
"""
