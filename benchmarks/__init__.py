"""Speed and memory benchmarks, kept out of the runtime package; run them with `python -m xami_core.bench`."""
