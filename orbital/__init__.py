"""Generated gRPC code of the ``orbital.v1`` API (built from protos/ by ``make protos``)."""
