"""Step times of several Keras models timed in turns, and their ratios to a baseline.

Shared by the benchmarks that compare models side by side: every model trains on the same
batch; after a warm-up (tracing), each repeat times `steps` steps of every model in turn
(A, B, C, A, B, C, ...), so that machine noise hits all of them alike, and the medians over
the repeats are compared.
"""

import statistics
import time

from kreg._retracing import ignore_retracing_warning


def time_in_turns(models: dict, x, y, steps: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per `train_on_batch` step of each model, one value per repeat."""
    # Each model traces its own step function once; TensorFlow counts them together.
    ignore_retracing_warning("one_step_on_data")
    for model in models.values():  # trace and warm up
        for _ in range(3):
            model.train_on_batch(x, y)
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - start) / steps)
    return times


def print_ratios(times: dict[str, list[float]], baseline: str, label: str) -> None:
    """Each model's median step time, its ratio to `baseline`'s, and the repeats' spread."""
    base = statistics.median(times[baseline])
    for name, values in times.items():
        median = statistics.median(values)
        spread = (max(values) - min(values)) / median
        print(
            f"  {name:<15} {median * 1e3:8.2f} ms/step  ratio to {label} {median / base:.3f}"
            f"  (spread of the repeats {spread:.0%})"
        )
