"""The eight techniques of the course, one module each (imported explicitly, e.g.
``from tradeoff_lib.techniques import quantization``)."""
